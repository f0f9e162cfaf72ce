"""Files attached to messages (PK ``attachment_id``).

An attachment is created ``pending`` when its uploader asks for a presigned POST, and becomes
``confirmed`` once the server has checked the uploaded object (size, type by its first bytes), in
the same transaction that stores the message referencing it (``message_id``), so one file goes
into one message. The object itself lives in S3 under ``key``; ``expires_at`` is the retention TTL
(a pending one that is never sent expires after a day).
"""

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib.models.base import KefuModel, table_meta


class AttachmentModel(KefuModel):
    """One uploaded (or about to be uploaded) file."""

    Meta = table_meta("attachments", ttl_attribute="expires_at")

    attachment_id = UnicodeAttribute(hash_key=True)
    uploader_id = UnicodeAttribute()
    uploader_type = UnicodeAttribute()  # "visitor" | "agent"
    session_id = UnicodeAttribute(null=True)  # set when the message is stored
    message_id = UnicodeAttribute(null=True)
    key = UnicodeAttribute()  # the S3 object key
    filename = UnicodeAttribute()
    content_type = UnicodeAttribute()  # declared at upload; replaced by the sniffed type on confirmation
    size = NumberAttribute()  # declared at upload; the stored object's size once confirmed
    status = UnicodeAttribute(default="pending")  # "pending" | "confirmed"
    created_at = UnicodeAttribute()
    expires_at = NumberAttribute()

    def to_ref(self) -> dict:
        """What a message stores about its file (the URL is made when the message is shown)."""
        return {"id": self.attachment_id, "name": self.filename, "content_type": self.content_type,
                "size": int(self.size)}
