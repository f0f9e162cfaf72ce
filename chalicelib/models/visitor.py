"""Visitors (customers). PK visitor_id; they sign up anonymously and hold a visitor token."""

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)

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
    # The message budget (``senders``), kept on the user's own item so a frame costs one write.
    msg_tat = NumberAttribute(null=True)  # when the budget is full again (GCRA: ``budgets``)
    msg_version = NumberAttribute(null=True)  # +1 with every write of the budget (its condition)
    msg_requests = ListAttribute(of=UnicodeAttribute, null=True)  # the last writers' request ids
    # The budget of new conversations (``senders.spend_conversation``), under the same version and
    # request ids: a ``start_session`` frame spends it in the write the frame costs anyway.
    conv_tat = NumberAttribute(null=True)
    # ``identify``: the shop's own id for this customer; ``verified`` when it came with a valid
    # ``user_hash`` (then this is the one record of that user_id: the ``identity#`` claim points here).
    user_id = UnicodeAttribute(null=True)
    search_terms = UnicodeSetAttribute(null=True)  # the ``CustomerTermModel`` keys they are found by
    verified = BooleanAttribute(null=True)
    email_verified = BooleanAttribute(null=True)  # the email came from a verified identify
    attributes = MapAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)

    def to_profile(self) -> dict:
        return {"visitor_id": self.visitor_id, "name": self.name, "email": self.email,
                "email_verified": bool(self.email_verified), "user_id": self.user_id,
                "verified": bool(self.verified),
                "attributes": self.attributes.as_dict() if self.attributes is not None else {}}
