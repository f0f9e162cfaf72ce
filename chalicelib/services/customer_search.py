"""Finding customers by name or email, and conversations by id, through keys only (never a Scan).

A customer's search keys (``models.customer_term``) are written when they sign up and replaced
when their name or email changes (``index_customer``). A search Queries the one partition of the
typed text's first two characters for the keys that begin with it, then each customer's newest
conversations (``SessionModel.by_visitor``), read again from the table. The keys are written after
the customer: a customer who signed up a moment ago may be found a moment later.
"""

from __future__ import annotations

import unicodedata

from chalicelib.models import CustomerTermModel, SessionModel, VisitorModel
from chalicelib.models.base import conditional, get_or_none, retrying
from chalicelib.models.batch import get_all
from chalicelib.models.customer_term import prefix_of
from chalicelib.observability import logger

MAX_CUSTOMERS = 10
SESSIONS_PER_CUSTOMER = 5
MIN_QUERY = 2


def normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def terms_of(name: str | None, email: str | None) -> set[str]:
    """The terms a customer is found by: the whole name, each word of it, the email and its
    local part."""
    terms: set[str] = set()
    if name and normalise(name):
        whole = normalise(name)
        terms |= {whole, *whole.split(" ")}
    if email and normalise(email):
        address = normalise(email)
        terms |= {address, address.split("@", 1)[0]}
    return {t for t in terms if t}


def _key(term: str, visitor_id: str) -> str:
    return f"{term}#{visitor_id}"


def index_customer(visitor: VisitorModel) -> None:
    """Write the customer's search keys for their current name and email, and remove the keys of
    an earlier name or email. Never raises: a customer not yet findable is logged, not an error
    for the sign-up or the change that called it."""
    try:
        wanted = {_key(t, visitor.visitor_id) for t in terms_of(visitor.name, visitor.email)}
        held = set(visitor.search_terms or ())
        for key in sorted(wanted):
            item = CustomerTermModel(prefix_of(key), key, visitor_id=visitor.visitor_id, name=visitor.name,
                                     email=visitor.email)
            retrying(item.save)
        for key in sorted(held - wanted):
            retrying(CustomerTermModel(prefix_of(key), key).delete)
        if wanted != held:
            actions = [VisitorModel.search_terms.set(wanted) if wanted else VisitorModel.search_terms.remove()]
            conditional(lambda: visitor.update(actions=actions, condition=VisitorModel.visitor_id.exists()))
    except Exception:  # the customer exists; only their search keys are late
        logger.exception("customer not indexed for search", visitor_id=visitor.visitor_id)


def find_customers(query: str) -> list[CustomerTermModel]:
    """Customers whose name, a word of it, or email begins with ``query`` (one per customer)."""
    text = normalise(query)
    if len(text) < MIN_QUERY:
        return []
    found: dict[str, CustomerTermModel] = {}
    for item in CustomerTermModel.query(prefix_of(text), CustomerTermModel.term_key.startswith(text),
                                        limit=MAX_CUSTOMERS * 4):
        found.setdefault(item.visitor_id, item)
        if len(found) >= MAX_CUSTOMERS:
            break
    return list(found.values())


def find_sessions(query: str) -> list[SessionModel]:
    """Conversations of the customers found by ``query``, or the one whose id it is; newest first."""
    text = query.strip()
    if text.startswith("s_"):
        session = get_or_none(SessionModel, text)
        return [session] if session is not None else []
    listed: list[str] = []
    for customer in find_customers(text):
        listed += [s.session_id for s in SessionModel.by_visitor.query(
            customer.visitor_id, scan_index_forward=False, limit=SESSIONS_PER_CUSTOMER,
            attributes_to_get=["session_id"])]
    # Found through the index, shown as stored now: the index's copy of a conversation ended or
    # transferred a moment ago still shows it active, or with its earlier agent.
    return sorted(get_all(SessionModel, listed), key=lambda s: s.created_at, reverse=True)
