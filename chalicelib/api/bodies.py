"""Request bodies (Pydantic). Imported by the views that parse them, not at cold start:
most invocations (authorizers, WebSocket frames, GETs) never need Pydantic."""

from typing import Literal

from pydantic import BaseModel, Field

USERNAME = r"^[A-Za-z0-9_.@-]+$"


class LoginBody(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class SignUpBody(BaseModel):
    name: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class StatusBody(BaseModel):
    status: Literal["online", "away", "offline"]


class CreateAgentBody(BaseModel):
    username: str = Field(min_length=3, max_length=64, pattern=USERNAME)
    password: str = Field(min_length=8, max_length=256)
    display_name: str | None = Field(default=None, max_length=100)
    role: Literal["agent", "admin"] = "agent"
    max_concurrent: int | None = Field(default=None, ge=0, le=1000)


class PatchAgentBody(BaseModel):
    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    role: Literal["agent", "admin"] | None = None
    password: str | None = Field(default=None, min_length=8, max_length=256)
    max_concurrent: int | None = Field(default=None, ge=0, le=1000)
    status: Literal["online", "away", "offline"] | None = None


class PostMessageBody(BaseModel):
    text: str = Field(min_length=1, max_length=4000)
    client_msg_id: str = Field(min_length=1, max_length=128)


class TransferBody(BaseModel):
    agent_id: str | None = Field(default=None, min_length=1, max_length=64)


class ReportBody(BaseModel):
    """Generate the report of one day, or of every day from ``from`` to ``to``."""

    date: str | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
