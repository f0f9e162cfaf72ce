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


# What the mails say, in the conversation's language (``context.language`` from the widget:
# Chinese for any ``zh``, else English), as the widget does.
TEXTS = {
    "en": {"you": "You", "system": "kefu", "agent": "Agent", "team": "our team", "deleted": "(deleted)",
           "file": "file", "reply_subject": "New reply from {agent}", "replied": "{agent} replied to your message:",
           "continue": "Continue the conversation where you left it: {page}",
           "open_again": "Open the chat again to answer.",
           "transcript_subject": "Transcript of your conversation ({date})",
           "transcript_head": "Your conversation of {date}"},
    "zh-CN": {"you": "您", "system": "客服", "agent": "客服", "team": "我们的客服", "deleted": "（已删除）",
              "file": "文件", "reply_subject": "{agent} 回复了您的消息", "replied": "{agent} 回复了您的消息：",
              "continue": "在原页面继续对话：{page}", "open_again": "再次打开聊天窗口即可回复。",
              "transcript_subject": "您的对话记录（{date}）", "transcript_head": "您在 {date} 的对话"},
}


def _texts(session: SessionModel) -> dict[str, str]:
    context = session.context.as_dict() if session.context is not None else {}
    language = str(context.get("language") or "").lower()
    return TEXTS["zh-CN" if language.startswith("zh") else "en"]


def _line(message: MessageModel, texts: dict[str, str]) -> str:
    who = {"visitor": texts["you"], "system": texts["system"]}.get(message.sender_type) \
        or message.sender_name or texts["agent"]
    text = texts["deleted"] if message.deleted else (message.text or "")
    if message.attachment is not None and not message.deleted:
        name = message.attachment.as_dict().get("name")
        text = f"{text} [{texts['file']}: {name}]".strip()
    return f"[{message.created_at[:16].replace('T', ' ')} UTC] {who}: {text}"


def reply_notice(session: SessionModel, message: MessageModel) -> tuple[str, str]:
    """Subject and text telling a customer who left of an agent's reply."""
    texts = _texts(session)
    agent = message.sender_name or texts["team"]
    page = (session.context.as_dict().get("url") if session.context is not None else None) or ""
    text = "\n".join(filter(None, [
        texts["replied"].format(agent=agent),
        "",
        _line(message, texts),
        "",
        texts["continue"].format(page=page) if page else texts["open_again"],
    ]))
    return texts["reply_subject"].format(agent=agent), text


def transcript(session: SessionModel, messages: Iterable[MessageModel]) -> tuple[str, str]:
    """Subject and text of a conversation's transcript, oldest message first."""
    texts = _texts(session)
    date = session.created_at[:10]
    lines = [_line(m, texts) for m in messages]
    text = "\n".join([texts["transcript_head"].format(date=date), "", *lines, ""])
    return texts["transcript_subject"].format(date=date), text
