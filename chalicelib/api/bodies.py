"""Request bodies (Pydantic). Imported by the views that parse them, not at cold start:
most invocations (authorizers, WebSocket frames, GETs) never need Pydantic."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

USERNAME = r"^[A-Za-z0-9_.@-]+$"


class Body(BaseModel):
    """Strict types: ``"3"`` or ``true`` is not a number, ``3`` is not a string (422, not coerced)."""

    model_config = ConfigDict(strict=True)


class LoginBody(Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    # What the last login from this browser answered: its logins are then limited on their own.
    device_token: str | None = Field(default=None, max_length=2048)


class SignUpBody(Body):
    name: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class StatusBody(Body):
    status: Literal["online", "away", "offline"]


class CreateAgentBody(Body):
    username: str = Field(min_length=3, max_length=64, pattern=USERNAME)
    password: str = Field(min_length=8, max_length=256)
    display_name: str | None = Field(default=None, max_length=100)
    role: Literal["agent", "admin"] = "agent"
    max_concurrent: int | None = Field(default=None, ge=0, le=1000)


class PatchAgentBody(Body):
    model_config = ConfigDict(strict=True, extra="forbid")  # a misspelt field must not answer 200 and do nothing

    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    role: Literal["agent", "admin"] | None = None
    password: str | None = Field(default=None, min_length=8, max_length=256)
    max_concurrent: int | None = Field(default=None, ge=0, le=1000)
    status: Literal["online", "away", "offline"] | None = None
    disabled: StrictBool | None = None


class PostMessageBody(Body):
    text: str = Field(min_length=1, max_length=4000)
    client_msg_id: str = Field(min_length=1, max_length=128)


class TransferBody(Body):
    agent_id: str | None = Field(default=None, min_length=1, max_length=64)


class DisconnectBody(Body):
    model_config = ConfigDict(strict=True, extra="forbid")

    revoke_tokens: StrictBool = False


class BulkDeleteBody(Body):
    model_config = ConfigDict(strict=True, extra="forbid")

    session_id: str = Field(min_length=1, max_length=64)
    message_ids: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=500)


class MarkReadBody(Body):
    session_id: str = Field(min_length=1, max_length=64)
    up_to: str = Field(min_length=1, max_length=64)


class ReportBody(Body):
    """Generate the report of one day, or of every day from ``from`` to ``to``."""

    date: str | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
