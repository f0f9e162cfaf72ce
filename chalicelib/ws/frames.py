"""Client frames, validated with Pydantic (Powertools Parser models). See docs/protocol.md."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_TEXT = 4000

SessionId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ClientMsgId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class Frame(BaseModel):
    model_config = ConfigDict(extra="ignore")

    action: str


class Ping(Frame):
    action: Literal["ping"]


class StartSession(Frame):
    action: Literal["start_session"]
    topic: Annotated[str, StringConstraints(max_length=200)] | None = None


class SendMessage(Frame):
    action: Literal["send_message"]
    session_id: SessionId
    client_msg_id: ClientMsgId
    text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT)]
    internal: bool = False  # an agents-only note (docs/protocol.md)


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
