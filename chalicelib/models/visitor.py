"""Visitors (customers). PK visitor_id; they sign up anonymously and hold a visitor token."""

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute

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
    msg_log = ListAttribute(of=NumberAttribute, null=True)  # the rate limit's recent frame times
    msg_version = NumberAttribute(null=True)  # +1 with every write of ``msg_log`` (its condition)
