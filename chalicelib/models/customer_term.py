"""Search keys of customers, so the console finds a customer by name or email with one Query,
never a Scan. One item per (term, customer); the terms of a customer are their whole name, each
word of it, their email and its local part, normalised (NFKC, case-folded).

PK ``prefix``: the term's first two characters, which spreads the terms over many partitions and
lets a Query ask for every term that begins with what was typed (``begins_with`` on the SK);
SK ``term_key`` = ``{term}#{visitor_id}``. The customer's own item keeps the SKs it was indexed
under (``VisitorModel.search_terms``), so a new name or email replaces the old keys.
"""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute

from chalicelib.models.base import KefuModel, table_meta

PREFIX_LENGTH = 2


def prefix_of(term: str) -> str:
    return term[:PREFIX_LENGTH]


class CustomerTermModel(KefuModel):
    """One search key of one customer, with what a result list shows of them."""

    Meta = table_meta("customer_terms")

    prefix = UnicodeAttribute(hash_key=True)
    term_key = UnicodeAttribute(range_key=True)
    visitor_id = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    email = UnicodeAttribute(null=True)
