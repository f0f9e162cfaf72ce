"""Attachments: images (PNG, JPEG, GIF, WebP) and PDFs up to ``KEFU_ATTACHMENT_MAX_BYTES``.

The browser uploads straight to S3 with a presigned POST whose policy binds the key, the content
type and the size range, so no file passes through Lambda. S3 cannot look inside the file, and the
browser can lie about its type, so before a message may reference the object the server checks it:
it exists (HeadObject), its size is within the limit, and its first bytes (a ranged GetObject)
are one of the allowed formats, whatever its name or declared type. Downloads go through
presigned GETs made afresh whenever a message is shown. The object key holds no user input.
"""

from __future__ import annotations

import functools
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.errors import (
    AttachmentNotUploaded,
    AttachmentRejected,
    AttachmentTooLarge,
    Forbidden,
    UnsupportedType,
    ValidationFailed,
)
from chalicelib.models import AttachmentModel, MessageModel
from chalicelib.models.base import conditional, fetch
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.models.base import Transaction
    from chalicelib.services.tokens import Principal

ALLOWED_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf")
UPLOAD_SECONDS = 300
PENDING_TTL_SECONDS = 86400  # an upload never sent in a message is forgotten after a day
SNIFF_BYTES = 16
REJECTED = "the file is not an image (PNG, JPEG, GIF, WebP) or a PDF"


def s3_client() -> Any:
    """S3, path-style when an endpoint is set (the local moto server has no bucket host names)."""
    config = get_config()
    return _s3_client(config.region, config.s3_endpoint)


@functools.lru_cache(maxsize=4)
def _s3_client(region: str, endpoint: str | None) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", region_name=region, endpoint_url=endpoint,
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path" if endpoint else "auto"},
                                      retries={"mode": "standard", "max_attempts": 3}))


def object_key(attachment_id: str) -> str:
    return f"attachments/{attachment_id}"


def sniff(first_bytes: bytes) -> str | None:
    """The allowed type these first bytes begin, None for anything else (magic numbers)."""
    if first_bytes.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if first_bytes.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if first_bytes[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if first_bytes[:4] == b"RIFF" and first_bytes[8:12] == b"WEBP":
        return "image/webp"
    if first_bytes.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def start_upload(principal: Principal, filename: str, content_type: str, size: int,
                 session_id: str | None = None) -> dict[str, Any]:
    """A pending attachment and the presigned POST that uploads its file."""
    config = get_config()
    if content_type not in ALLOWED_TYPES:
        raise UnsupportedType(f"attachments may be {', '.join(ALLOWED_TYPES)}; not {content_type}")
    if size > config.attachment_max_bytes:
        raise AttachmentTooLarge(f"attachments are at most {config.attachment_max_bytes} bytes",
                                 max_bytes=config.attachment_max_bytes)
    if size < 1:
        raise ValidationFailed("size must be at least 1 byte")
    attachment_id = f"a_{uuid.uuid4().hex}"
    attachment = AttachmentModel(
        attachment_id, uploader_id=principal.user_id, uploader_type=principal.typ, session_id=session_id,
        key=object_key(attachment_id), filename=filename, content_type=content_type, size=size,
        status="pending", created_at=clock.iso(), expires_at=int(clock.epoch() + PENDING_TTL_SECONDS))
    conditional(lambda: attachment.save(condition=AttachmentModel.attachment_id.does_not_exist()),
                already_done=lambda: True)  # a fresh id: a condition failure is our own lost answer
    post = s3_client().generate_presigned_post(
        config.attachments_bucket, attachment.key,
        Fields={"Content-Type": content_type},
        Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, config.attachment_max_bytes]],
        ExpiresIn=UPLOAD_SECONDS)
    return {"attachment_id": attachment_id, "upload": {"url": post["url"], "fields": post["fields"]},
            "expires_at": clock.iso_from_epoch(clock.epoch() + UPLOAD_SECONDS),
            "max_bytes": config.attachment_max_bytes}


def get(attachment_id: str) -> AttachmentModel:
    return fetch(AttachmentModel, attachment_id, "attachment")


def confirm(principal: Principal, attachment_id: str) -> AttachmentModel:
    """The attachment, checked, ready to go into ``principal``'s message: theirs, uploaded, at
    most the size limit, and an allowed format by its first bytes (the sniffed type replaces the
    declared one). A file that fails the check is deleted. One already confirmed is returned as
    it is: its message's transaction decides whether this is a retry of that message."""
    attachment = get(attachment_id)
    if attachment.uploader_id != principal.user_id:
        raise Forbidden("this attachment was uploaded by someone else")
    if attachment.status == "confirmed":
        return attachment
    from botocore.exceptions import ClientError

    config = get_config()
    client = s3_client()
    try:
        head = client.head_object(Bucket=config.attachments_bucket, Key=attachment.key)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            raise AttachmentNotUploaded("the file is not uploaded yet: upload it, then send the message") from e
        raise
    size = int(head["ContentLength"])
    if size > config.attachment_max_bytes:
        _discard(attachment)
        raise AttachmentTooLarge(f"attachments are at most {config.attachment_max_bytes} bytes",
                                 max_bytes=config.attachment_max_bytes)
    first = client.get_object(Bucket=config.attachments_bucket, Key=attachment.key,
                              Range=f"bytes=0-{SNIFF_BYTES - 1}")["Body"].read()
    sniffed = sniff(first)
    if sniffed is None or size < 1:
        _discard(attachment)
        logger.info("attachment rejected", attachment_id=attachment_id, declared=attachment.content_type)
        raise AttachmentRejected(REJECTED)
    attachment.content_type, attachment.size = sniffed, size
    return attachment


def _discard(attachment: AttachmentModel) -> None:
    s3_client().delete_object(Bucket=get_config().attachments_bucket, Key=attachment.key)


def add_to_message(tx: Transaction, attachment: AttachmentModel, message: MessageModel) -> None:
    """Add "this file belongs to this message" to the transaction that stores ``message``: once
    only (a second message with the same file is cancelled on ``attachment``), and kept as long as
    the message."""
    tx.update("attachment", AttachmentModel(attachment.attachment_id), actions=[
        AttachmentModel.status.set("confirmed"), AttachmentModel.session_id.set(message.session_id),
        AttachmentModel.message_id.set(message.message_id), AttachmentModel.content_type.set(attachment.content_type),
        AttachmentModel.size.set(int(attachment.size)), AttachmentModel.expires_at.set(int(message.expires_at)),
    ], condition=AttachmentModel.message_id.does_not_exist() & (AttachmentModel.uploader_id == message.sender_id))


def download_url(ref: dict[str, Any]) -> tuple[str, str]:
    """A presigned GET of a stored file and when it expires: images shown inline, PDFs saved."""
    config = get_config()
    ttl = config.attachment_url_ttl_seconds
    disposition = "inline" if str(ref.get("content_type", "")).startswith("image/") else "attachment"
    name = quote(str(ref.get("name") or "file"))
    url = s3_client().generate_presigned_url("get_object", Params={
        "Bucket": config.attachments_bucket, "Key": object_key(ref["id"]),
        "ResponseContentType": ref.get("content_type") or "application/octet-stream",
        "ResponseContentDisposition": f"{disposition}; filename*=UTF-8''{name}",
    }, ExpiresIn=ttl)
    return url, clock.iso_from_epoch(clock.epoch() + ttl)


def public_message(message: MessageModel, for_visitor: bool = False) -> dict[str, Any]:
    """A message as clients see it (``MessageModel.to_public``), with a fresh download URL on its
    attachment."""
    body = message.to_public(for_visitor=for_visitor)
    attachment = body.get("attachment")
    if attachment is not None:
        attachment["url"], attachment["url_expires_at"] = download_url(attachment)
    return body


def describe(attachment: AttachmentModel) -> dict[str, Any]:
    ref = attachment.to_ref()
    ref["url"], ref["url_expires_at"] = download_url(ref)
    return ref
