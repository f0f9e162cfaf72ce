"""Conversations: ``/api/sessions``, ``/api/messages``, ``/api/attachments`` (also the WebSocket
frames' ``session`` and ``message``, ``ws/server_frames``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.api.answers.common import Answer, Iso


class Party(Answer):
    id: str | None
    name: str | None


class SessionIdentity(Answer):
    """Who the visitor said they are when the conversation began (``identify`` keeps it current)."""

    email: str | None
    user_id: str | None
    verified: bool


class PageContext(Answer):
    """The page the conversation started on (agents only)."""

    url: str | None = None
    title: str | None = None
    referrer: str | None = None
    language: str | None = None
    timezone: str | None = None
    user_agent: str | None = None


class Session(Answer):
    session_id: str
    visitor: Party
    identity: SessionIdentity | None = None
    agent: Party | None
    status: Literal["queued", "active", "offline", "ended", "abandoned"]
    topic: str | None
    created_at: Iso | None
    queued_at: Iso | None
    assigned_at: Iso | None
    ended_at: Iso | None
    ended_by: str | None
    end_reason: str | None
    rating: int | None
    rating_comment: str | None
    message_count: int
    last_message_at: Iso | None
    first_response_at: Iso | None
    transfer_count: int
    version: int | None
    offline_at: Iso | None = Field(default=None, description="when it began with nobody to answer")
    context: PageContext | None = Field(default=None, description="agents only")


class SessionState(Session):
    position: int | None
    position_seq: int | None


class SessionList(Answer):
    sessions: list[Session]


class SessionPage(SessionList):
    next: str | None = Field(description="pass as ?cursor= for the next page")


class Sender(Answer):
    type: Literal["visitor", "agent", "system"]
    id: str | None
    name: str | None
    avatar_url: str | None = None


class Attachment(Answer):
    """A stored file; ``url`` is a presigned download that expires at ``url_expires_at``
    (``GET /api/attachments/{id}`` makes a fresh one)."""

    id: str
    name: str
    content_type: str
    size: int
    url: str
    url_expires_at: Iso


class Message(Answer):
    id: str
    session_id: str
    sender: Sender
    text: str
    created_at: Iso
    client_msg_id: str | None
    read_at: Iso | None = None
    kind: str | None = None
    attachment: Attachment | None = None
    internal: bool | None = Field(default=None, description="an agents-only note")
    system: dict | None = Field(default=None, description="a system line: {event, ...} (docs/protocol.md)")
    deleted: bool | None = None
    deleted_by: str | None = None
    deleted_at: Iso | None = None


class History(Answer):
    session_id: str
    messages: list[Message]
    next: str | None


class PostedMessage(Answer):
    message: Message
    duplicate: bool


class FirstMessage(PostedMessage):
    """The message and the conversation it went to (opened by it, or the open one)."""

    session: SessionState


class ReadReceipt(Answer):
    session_id: str
    up_to: str | None
    updated: int
    complete: bool


class BulkDeleted(Answer):
    session_id: str
    deleted: list[str]
    not_found: list[str]


class TranscriptSent(Answer):
    session_id: str
    sent_to: str
    messages: int


class PresignedPost(Answer):
    """POST the file as ``multipart/form-data`` to ``url`` with ``fields`` (and the file last)."""

    url: str
    fields: dict[str, str]


class Upload(Answer):
    attachment_id: str
    upload: PresignedPost
    expires_at: Iso
    max_bytes: int
