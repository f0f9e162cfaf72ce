"""What the server sends over a socket (Pydantic), for the protocol document (``ws/asyncapi.py``).

The services build these frames as plain dicts (pushing must not import Pydantic); these models
describe them, and the WebSocket tests validate the frames they receive against the generated
schemas. Client frames are ``ws/frames.py``. ``extra="allow"``: clients ignore fields they do not
know, so adding one is not a breaking change.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.answers import Message, Party, Session, VisitorProfile
from chalicelib.errors import KefuError


class ServerFrame(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str


def _codes(base: type[KefuError]) -> set[str]:
    found = {base.code}
    for sub in base.__subclasses__():
        found |= _codes(sub)
    return found


ERROR_CODES = tuple(sorted(_codes(KefuError) - {KefuError.code} | {"internal_error"}))


class Pong(ServerFrame):
    type: Literal["pong"]
    connection_id: str
    server_time: str


class ErrorFrame(ServerFrame):
    """The frame was refused: nothing was stored, nobody else was told, the socket stays open."""

    type: Literal["error"]
    code: Literal[ERROR_CODES]  # type: ignore[valid-type]
    message: str
    action: str | None = Field(default=None, description="the refused frame's action, when it had one")
    client_msg_id: str | None = None
    retry_after: int | None = Field(default=None, description="rate_limited: seconds until one fits again")
    fields: list[str] | None = Field(default=None, description="prechat_required: the fields to give first")


class MessageAck(ServerFrame):
    type: Literal["message.ack"]
    client_msg_id: str
    message: Message


class MessageNew(ServerFrame):
    type: Literal["message.new"]
    message: Message


class Reader(BaseModel):
    type: str
    id: str
    name: str | None


class MessageRead(ServerFrame):
    type: Literal["message.read"]
    session_id: str
    up_to: str | None
    reader: Reader
    read_at: str | None


class ReadAck(ServerFrame):
    type: Literal["read.ack"]
    session_id: str
    up_to: str | None
    updated: int
    complete: bool


class MessageDeleted(ServerFrame):
    type: Literal["message.deleted"]
    session_id: str
    message_ids: list[str]


class TypingNotice(ServerFrame):
    type: Literal["typing"]
    session_id: str
    is_typing: bool
    user: Reader


class HistoryFrame(ServerFrame):
    type: Literal["history"]
    session_id: str
    messages: list[Message]
    next: str | None


class Sessions(ServerFrame):
    type: Literal["sessions"]
    sessions: list[Session]


class SessionQueued(ServerFrame):
    type: Literal["session.queued"]
    session_id: str
    position: int | None
    version: int | None
    position_seq: int


class SessionAssigned(ServerFrame):
    type: Literal["session.assigned"]
    session_id: str
    agent: Party | None
    customer: Party
    topic: str | None
    version: int | None
    line: Message | None = Field(None, description="the transcript's line saying the agent joined, as "
                                 "`message.new` would carry it (live assignments only)")


class SessionTransferred(ServerFrame):
    type: Literal["session.transferred"]
    session_id: str
    from_agent: Party | None
    agent: Party | None
    customer: Party
    version: int | None


class SessionReleased(ServerFrame):
    type: Literal["session.released"]
    session_id: str
    reason: str
    version: int | None


class SessionEnded(ServerFrame):
    type: Literal["session.ended"]
    session_id: str
    ended_by: str | None
    reason: str | None
    version: int | None


class SessionOffline(ServerFrame):
    """Nobody can answer now: the conversation waits for an agent, the customer may leave an email."""

    type: Literal["session.offline"]
    session_id: str
    version: int | None
    offline_text: str | None


class SessionRated(ServerFrame):
    type: Literal["session.rated"]
    session_id: str
    rating: int | None
    comment: str | None
    version: int | None


class AgentPresence(ServerFrame):
    type: Literal["agent.presence"]
    status: str
    reason: str


class Disconnected(ServerFrame):
    """Sent just before the server closes the socket."""

    type: Literal["disconnected"]
    reason: str


class VisitorFrame(ServerFrame):
    """``update_visitor``'s answer: the visitor's profile as stored."""

    type: Literal["visitor"]
    visitor: VisitorProfile


class IdentityFrame(ServerFrame):
    """``identify``'s answer; ``switched``: the identity is another visitor record's, whose token
    ``token`` is (reconnect with it)."""

    type: Literal["identity"]
    visitor: VisitorProfile
    switched: bool
    token: str | None = None
    expires_at: str | None = None


class TranscriptSent(ServerFrame):
    type: Literal["transcript.sent"]
    session_id: str
    sent_to: str
    messages: int


SERVER_FRAMES: tuple[type[ServerFrame], ...] = (
    Pong, ErrorFrame, MessageAck, MessageNew, MessageRead, ReadAck, MessageDeleted, TypingNotice,
    HistoryFrame, Sessions, SessionQueued, SessionAssigned, SessionTransferred, SessionReleased,
    SessionOffline, SessionEnded, SessionRated, AgentPresence, Disconnected, VisitorFrame, IdentityFrame,
    TranscriptSent,
)


def frame_type(model: type[ServerFrame]) -> str:
    return str(model.model_fields["type"].annotation.__args__[0])
