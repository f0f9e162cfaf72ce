"""One-time WebSocket tickets (PK ``ticket_hash``: the SHA-256 of the ticket, so whoever reads the
table finds no usable ticket). A ticket speaks for the user whose token asked for it, for one
``$connect`` within its minute: ``$connect`` consumes it with one conditional update (``used_by``
set only while unset and unexpired), so two connects racing with one ticket cannot both pass.
``expires_at`` is the TTL (deletes late: the condition checks it)."""

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib.models.base import KefuModel, table_meta


class TicketModel(KefuModel):
    """A ticket: who it speaks for, until when, and the connection that used it."""

    Meta = table_meta("ws_tickets", ttl_attribute="expires_at")

    ticket_hash = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    user_type = UnicodeAttribute()  # "visitor" | "agent"
    role = UnicodeAttribute()
    user_name = UnicodeAttribute(null=True)
    token_gen = NumberAttribute(default=0)  # the generation of the token that asked (revocation)
    expires_at = NumberAttribute()
    used_by = UnicodeAttribute(null=True)  # the connection id that consumed it
