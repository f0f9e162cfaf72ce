"""Visitors (customers). PK visitor_id; they sign up anonymously and hold a visitor token."""

from pynamodb.attributes import BooleanAttribute, MapAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute

from chalicelib.models.base import KefuModel, table_meta


class VisitorModel(KefuModel):
    """A customer who chats from the widget."""

    Meta = table_meta("visitors")

    visitor_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(null=True)
    email = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    socket_ids = UnicodeSetAttribute(null=True)  # open sockets, read consistently on $disconnect
    token_gen = NumberAttribute(default=0)  # tokens carrying an older generation are revoked
    search_terms = UnicodeSetAttribute(null=True)  # the ``CustomerTermModel`` keys they are found by
    # Written by identify (#19, h/wback: the same attributes there); read by the customer panel.
    verified = BooleanAttribute(null=True)
    attributes = MapAttribute(null=True)
