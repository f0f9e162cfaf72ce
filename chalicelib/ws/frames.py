"""Client frames, validated with Pydantic (Powertools Parser models). See docs/protocol.md."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from chalicelib.jsontext import MAX_CLIENT_NUMBER, storable_number

MAX_TEXT = 4000

SessionId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ClientMsgId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class Frame(BaseModel):
    # Each model's validator is built at its first use, not at import: a cold Lambda's first frame
    # builds the one it needs instead of all fifteen (a sixth of the cold start).
    model_config = ConfigDict(extra="ignore", defer_build=True)

    action: str


class Ping(Frame):
    action: Literal["ping"]


class StartSession(Frame):
    action: Literal["start_session"]
    topic: Annotated[str, StringConstraints(max_length=200)] | None = None


class PageContext(BaseModel):
    """The page a conversation starts on (``send_message`` that opens it)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    url: Annotated[str, StringConstraints(max_length=2048)] | None = None
    title: Annotated[str, StringConstraints(max_length=300)] | None = None
    referrer: Annotated[str, StringConstraints(max_length=2048)] | None = None
    language: Annotated[str, StringConstraints(max_length=35)] | None = None
    timezone: Annotated[str, StringConstraints(max_length=64)] | None = None


# Text, a file, or both: what ``model_post_init`` checks, said in the JSON Schema too.
TEXT_OR_ATTACHMENT = {"anyOf": [{"required": ["text"], "properties": {"text": {"minLength": 1}}},
                                {"required": ["attachment_id"], "properties": {"attachment_id": {"type": "string"}}}]}


class SendMessage(Frame):
    """``session_id`` left out (visitors): the open conversation, opened by this message."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=TEXT_OR_ATTACHMENT)

    action: Literal["send_message"]
    session_id: SessionId | None = None
    client_msg_id: ClientMsgId
    text: Annotated[str, StringConstraints(max_length=MAX_TEXT)] = ""
    attachment_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    context: PageContext | None = None
    internal: bool = False  # an agents-only note (docs/protocol.md)

    def model_post_init(self, _context) -> None:
        if not self.text and self.attachment_id is None:
            raise ValueError("text must be 1 to 4000 characters (or empty with an attachment)")


class Typing(Frame):
    action: Literal["typing"]
    session_id: SessionId
    is_typing: bool


class MarkRead(Frame):
    action: Literal["mark_read"]
    session_id: SessionId
    up_to: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class GetHistory(Frame):
    action: Literal["get_history"]
    session_id: SessionId
    before: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    limit: int = Field(default=50, ge=1, le=100)


class EndSession(Frame):
    action: Literal["end_session"]
    session_id: SessionId


class RateSession(Frame):
    action: Literal["rate_session"]
    session_id: SessionId
    rating: int = Field(ge=1, le=5)
    comment: Annotated[str, StringConstraints(max_length=2000)] | None = None


FRAME_MODELS: dict[str, type[Frame]] = {
    "ping": Ping,
    "start_session": StartSession,
    "send_message": SendMessage,
    "typing": Typing,
    "mark_read": MarkRead,
    "get_history": GetHistory,
    "end_session": EndSession,
    "rate_session": RateSession,
}


class GetSession(Frame):
    action: Literal["get_session"]
    session_id: SessionId


class ListSessions(Frame):
    action: Literal["list_sessions"]


FRAME_MODELS.update({"get_session": GetSession, "list_sessions": ListSessions})


Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
AttributeValue = (Annotated[str, StringConstraints(max_length=256)] | bool
                  | Annotated[int, Field(ge=-MAX_CLIENT_NUMBER, le=MAX_CLIENT_NUMBER)]
                  | Annotated[float, Field(ge=-MAX_CLIENT_NUMBER, le=MAX_CLIENT_NUMBER, allow_inf_nan=False),
                              AfterValidator(storable_number)])


class UpdateVisitor(Frame):
    action: Literal["update_visitor"]
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    email: Email | None = None


class Identify(Frame):
    action: Literal["identify"]
    user_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    user_hash: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    name: Annotated[str, StringConstraints(max_length=100)] | None = None
    email: Email | None = None
    attributes: dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], AttributeValue] | None = Field(
        default=None, max_length=20)


class EmailTranscript(Frame):
    action: Literal["email_transcript"]
    session_id: SessionId
    email: Email | None = None


FRAME_MODELS.update({"update_visitor": UpdateVisitor, "identify": Identify, "email_transcript": EmailTranscript})
