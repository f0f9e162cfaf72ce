"""Mail to customers through Amazon SES: an agent's reply while they are away, a transcript.

Sent from ``KEFU_MAIL_FROM`` (a verified SES identity); without it nothing is sent and the
attempt is logged. A mail that SES refuses is logged and reported as not sent, never turned into
an error of the chat operation that caused it. Locally SES is the embedded moto server, and the
stack writes every mail it accepts to its log and to ``<data dir>/outbox.jsonl``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from chalicelib.config import get_config
from chalicelib.models import MessageModel, SessionModel
from chalicelib.observability import logger


def ses_client() -> Any:
    config = get_config()
    return _ses_client(config.region, config.ses_endpoint)


@functools.lru_cache(maxsize=4)
def _ses_client(region: str, endpoint: str | None) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("sesv2", region_name=region, endpoint_url=endpoint,
                        config=Config(retries={"mode": "standard", "max_attempts": 3}))


def send(to: str, subject: str, text: str) -> bool:
    """One plain-text mail; True when SES accepted it."""
    sender = get_config().mail_from
    if not sender:
        logger.warning("mail not sent: KEFU_MAIL_FROM is not set", subject=subject)
        return False
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = ses_client().send_email(
            FromEmailAddress=sender, Destination={"ToAddresses": [to]},
            Content={"Simple": {"Subject": {"Data": subject, "Charset": "UTF-8"},
                                "Body": {"Text": {"Data": text, "Charset": "UTF-8"}}}})
    except (BotoCoreError, ClientError):
        logger.exception("mail not sent", subject=subject)
        return False
    logger.info("mail sent", message_id=answer.get("MessageId"), subject=subject)
    return True


def _line(message: MessageModel) -> str:
    who = {"visitor": "You", "system": "kefu"}.get(message.sender_type) or message.sender_name or "Agent"
    text = "(deleted)" if message.deleted else (message.text or "")
    if message.attachment is not None and not message.deleted:
        name = message.attachment.as_dict().get("name")
        text = f"{text} [file: {name}]".strip()
    return f"[{message.created_at[:16].replace('T', ' ')} UTC] {who}: {text}"


def reply_notice(session: SessionModel, message: MessageModel) -> tuple[str, str]:
    """Subject and text telling a customer who left of an agent's reply."""
    agent = message.sender_name or "our team"
    page = (session.context.as_dict().get("url") if session.context is not None else None) or ""
    text = "\n".join(filter(None, [
        f"{agent} replied to your message:",
        "",
        _line(message),
        "",
        f"Continue the conversation where you left it: {page}" if page else "Open the chat again to answer.",
    ]))
    return f"New reply from {agent}", text


def transcript(session: SessionModel, messages: Iterable[MessageModel]) -> tuple[str, str]:
    """Subject and text of a conversation's transcript, oldest message first."""
    lines = [_line(m) for m in messages]
    text = "\n".join([f"Your conversation of {session.created_at[:10]}", "", *lines, ""])
    return f"Transcript of your conversation ({session.created_at[:10]})", text
