"""Client frames, validated with msgspec. See docs/protocol.md.

Not Pydantic (which REST bodies use): importing it and building a frame's validator took a cold
Lambda ~90 ms before its first frame could be answered, a fifth of its cold start; msgspec's
import and all fifteen structs take ~20 ms, and the checks and their JSON Schema
(docs/asyncapi.json) are the same. ``validate`` is the one way in.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from chalicelib.errors import ValidationFailed
from chalicelib.jsontext import MAX_CLIENT_NUMBER, storable_number

MAX_TEXT = 4000

SessionId = Annotated[str, Meta(min_length=1, max_length=64)]
ClientMsgId = Annotated[str, Meta(min_length=1, max_length=128)]


def chars(max_length: int, min_length: int = 0) -> Any:
    return Annotated[str, Meta(min_length=min_length, max_length=max_length)]


class Frame(msgspec.Struct, kw_only=True):
    """Fields a frame does not define are ignored (a newer client may send more)."""

    action: str


class Ping(Frame, kw_only=True):
    action: Literal["ping"]


class StartSession(Frame, kw_only=True):
    action: Literal["start_session"]
    topic: chars(200) | None = None


class SentPageContext(msgspec.Struct, kw_only=True):
    """The page a conversation starts on (``send_message`` that opens it)."""

    url: chars(2048) | None = None
    title: chars(300) | None = None
    referrer: chars(2048) | None = None
    language: chars(35) | None = None
    timezone: chars(64) | None = None


# Text, a file, or both: what ``SendMessage.__post_init__`` checks, said in the JSON Schema too.
TEXT_OR_ATTACHMENT = {"anyOf": [{"required": ["text"], "properties": {"text": {"minLength": 1}}},
                                {"required": ["attachment_id"], "properties": {"attachment_id": {"type": "string"}}}]}


class SendMessage(Frame, kw_only=True):
    """``session_id`` left out (visitors): the open conversation, opened by this message."""

    action: Literal["send_message"]
    session_id: SessionId | None = None
    client_msg_id: ClientMsgId
    text: chars(MAX_TEXT) = ""
    attachment_id: chars(64, min_length=1) | None = None
    context: SentPageContext | None = None
    internal: bool = False  # an agents-only note (docs/protocol.md)

    def __post_init__(self) -> None:
        if not self.text and self.attachment_id is None:
            raise ValueError("text must be 1 to 4000 characters (or empty with an attachment)")


class Typing(Frame, kw_only=True):
    action: Literal["typing"]
    session_id: SessionId
    is_typing: bool


class MarkRead(Frame, kw_only=True):
    action: Literal["mark_read"]
    session_id: SessionId
    up_to: chars(64, min_length=1)


class GetHistory(Frame, kw_only=True):
    action: Literal["get_history"]
    session_id: SessionId
    before: chars(64, min_length=1) | None = None
    limit: Annotated[int, Meta(ge=1, le=100)] = 50


class EndSession(Frame, kw_only=True):
    action: Literal["end_session"]
    session_id: SessionId


class RateSession(Frame, kw_only=True):
    action: Literal["rate_session"]
    session_id: SessionId
    rating: Annotated[int, Meta(ge=1, le=5)]
    comment: chars(2000) | None = None


class GetSession(Frame, kw_only=True):
    action: Literal["get_session"]
    session_id: SessionId


class ListSessions(Frame, kw_only=True):
    action: Literal["list_sessions"]


# ``$(?!\n)``: Python's ``$`` (msgspec matches with ``re.search``) also matches before a final newline,
# which would let "a@b.co\n" through to SES; the lookahead is also JSON Schema (ECMA) syntax.
Email = Annotated[str, Meta(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$(?!\n)")]
AttributeValue = (chars(256) | bool | Annotated[int, Meta(ge=-MAX_CLIENT_NUMBER, le=MAX_CLIENT_NUMBER)]
                  | Annotated[float, Meta(ge=-MAX_CLIENT_NUMBER, le=MAX_CLIENT_NUMBER)])


class UpdateVisitor(Frame, kw_only=True):
    action: Literal["update_visitor"]
    name: chars(100, min_length=1) | None = None
    email: Email | None = None


class Identify(Frame, kw_only=True):
    action: Literal["identify"]
    user_id: chars(128, min_length=1)
    user_hash: chars(128, min_length=1) | None = None
    name: chars(100) | None = None
    email: Email | None = None
    attributes: Annotated[dict[chars(64, min_length=1), AttributeValue], Meta(max_length=20)] | None = None

    def __post_init__(self) -> None:
        for key, value in (self.attributes or {}).items():
            if isinstance(value, float):  # NaN and Infinity never get here: the bounds refuse them
                try:
                    storable_number(value)
                except ValueError as e:
                    raise ValueError(f"attributes.{key}: {e}") from e


class EmailTranscript(Frame, kw_only=True):
    action: Literal["email_transcript"]
    session_id: SessionId
    email: Email | None = None


FRAME_MODELS: dict[str, type[Frame]] = {
    "ping": Ping,
    "start_session": StartSession,
    "send_message": SendMessage,
    "typing": Typing,
    "mark_read": MarkRead,
    "get_history": GetHistory,
    "end_session": EndSession,
    "rate_session": RateSession,
    "get_session": GetSession,
    "list_sessions": ListSessions,
    "update_visitor": UpdateVisitor,
    "identify": Identify,
    "email_transcript": EmailTranscript,
}


def validate(model: type[Frame], data: dict[str, Any]) -> Frame:
    """``data`` as a ``model``; ``validation_error`` naming the field otherwise. Lax as JSON
    clients expect: a number or boolean sent as a string is taken, as REST bodies take it."""
    try:
        return msgspec.convert(data, model, strict=False)
    except msgspec.ValidationError as e:
        raise ValidationFailed(_readable(str(e))) from e


def _readable(message: str) -> str:
    """msgspec's "Expected `int` <= 100 - at `$.limit`" as "limit: Expected `int` <= 100", and
    "Object missing required field `text`" as "text: missing" (the first error only)."""
    what, _, where = message.rpartition(" - at ")
    if not what:
        what, where = message, "`$`"
    where = where.replace("`", "").replace("$.", "").replace("$", "frame")
    missing = re.fullmatch(r"Object missing required field `(.+)`", what)
    if missing:
        return f"{where + '.' if where != 'frame' else ''}{missing[1]}: missing"
    return f"{where}: {what}"
