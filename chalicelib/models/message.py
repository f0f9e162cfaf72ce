"""Messages and their idempotency keys.

``MessageModel``: PK session_id, SK message_id (sorts by time), so history is one Query per page.
``expires_at`` is the retention TTL. Besides what people type, a session's messages hold its system
lines (``sender_type`` "system", ``system`` = what happened: docs/protocol.md) and the agents'
internal notes (``internal``), which a visitor never receives.

``MessageKeyModel``: PK ``{sender_id}#{client_msg_id}``. Written in the same transaction as the
message with ``attribute_not_exists``, so a retried send (even a concurrent one) stores one message
and every retry can find it again.
"""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, JSONAttribute, MapAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.models.base import KefuModel, table_meta


class MessageModel(KefuModel):
    """One chat message."""

    Meta = table_meta("messages", ttl_attribute="expires_at")

    session_id = UnicodeAttribute(hash_key=True)
    message_id = UnicodeAttribute(range_key=True)
    sender_type = UnicodeAttribute()  # "visitor" | "agent" | "system"
    sender_id = UnicodeAttribute()
    sender_name = UnicodeAttribute(null=True)
    sender_avatar_url = UnicodeAttribute(null=True)  # an agent's avatar when they sent it
    text = UnicodeAttribute(null=True)  # removed when the message is deleted
    client_msg_id = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    read_at = UnicodeAttribute(null=True)
    expires_at = NumberAttribute()
    deleted = BooleanAttribute(null=True)  # soft delete: the text is gone, the message stays
    deleted_by = UnicodeAttribute(null=True)
    deleted_at = UnicodeAttribute(null=True)
    kind = UnicodeAttribute(null=True)  # system messages: what they say ("greeting", ...)
    attachment = MapAttribute(null=True)  # {id, name, content_type, size} of a confirmed file
    internal = BooleanAttribute(null=True)  # an agents-only note
    system = JSONAttribute(null=True)  # a system line: {"event": ..., fields}

    @property
    def is_note(self) -> bool:
        return bool(self.internal)

    def to_public(self, for_visitor: bool = False) -> dict:
        """The message as clients see it; ``for_visitor`` leaves out what only agents read (a
        transfer's note). Notes themselves are never handed to a visitor (``chat`` filters them)."""
        body = {
            "id": self.message_id,
            "session_id": self.session_id,
            "sender": {"type": self.sender_type, "id": self.sender_id, "name": self.sender_name},
            "text": self.text or "",
            "created_at": self.created_at,
            "client_msg_id": self.client_msg_id,
        }
        if self.sender_avatar_url:
            body["sender"]["avatar_url"] = self.sender_avatar_url
        if self.read_at:
            body["read_at"] = self.read_at
        if self.kind:
            body["kind"] = self.kind
        if self.attachment is not None and not self.deleted:
            body["attachment"] = self.attachment.as_dict()
        if self.internal:
            body["internal"] = True
        if self.system:
            system = dict(self.system)
            if for_visitor:
                system.pop("note", None)
            body["system"] = system
        if self.deleted:
            body.update(deleted=True, deleted_by=self.deleted_by, deleted_at=self.deleted_at)
        return body


class MessageKeyModel(KefuModel):
    """The idempotency record of one (sender, client_msg_id)."""

    Meta = table_meta("message_keys", ttl_attribute="expires_at")

    dedup_key = UnicodeAttribute(hash_key=True)
    session_id = UnicodeAttribute()
    message_id = UnicodeAttribute()
    expires_at = NumberAttribute()
