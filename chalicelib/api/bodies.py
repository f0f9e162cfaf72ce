"""Request bodies (Pydantic). Imported by the views that parse them, not at cold start:
most invocations (authorizers, WebSocket frames, GETs) never need Pydantic."""

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from chalicelib.jsontext import MAX_CLIENT_NUMBER, storable_number

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
    avatar_url: str | None = Field(default=None, max_length=2048, pattern=r"^(https?://\S+)?$")  # "" removes it


class TransferBody(Body):
    agent_id: str | None = Field(default=None, min_length=1, max_length=64)
    note: str | None = Field(default=None, max_length=1000)


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


# --- the widget's backend (#19) -----------------------------------------------------------------

EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
HHMM = r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$"
Email = Annotated[str, StringConstraints(max_length=254, pattern=EMAIL)]
AttributeValue = (Annotated[str, StringConstraints(max_length=256)] | StrictBool
                  | Annotated[int, Field(ge=-MAX_CLIENT_NUMBER, le=MAX_CLIENT_NUMBER)]
                  | Annotated[float, Field(ge=-MAX_CLIENT_NUMBER, le=MAX_CLIENT_NUMBER, allow_inf_nan=False),
                              AfterValidator(storable_number)])


class PageContext(Body):
    """The page a conversation starts on, as the widget reads it."""

    url: str | None = Field(default=None, max_length=2048)
    title: str | None = Field(default=None, max_length=300)
    referrer: str | None = Field(default=None, max_length=2048)
    language: str | None = Field(default=None, max_length=35)
    timezone: str | None = Field(default=None, max_length=64)


class SendBody(Body):
    """A message: text, a file, or both (``attachment_id`` from ``POST /api/attachments``)."""

    model_config = ConfigDict(strict=True, json_schema_extra={"anyOf": [
        {"required": ["text"], "properties": {"text": {"minLength": 1}}},
        {"required": ["attachment_id"], "properties": {"attachment_id": {"type": "string"}}}]})
    text: str = Field(default="", max_length=4000)
    client_msg_id: str = Field(min_length=1, max_length=128)
    attachment_id: str | None = Field(default=None, min_length=1, max_length=64)
    internal: StrictBool = False  # an agents-only note

    def model_post_init(self, _context) -> None:
        if not self.text and self.attachment_id is None:
            raise ValueError("text must be 1 to 4000 characters (or empty with an attachment)")


class FirstMessageBody(SendBody):
    context: PageContext | None = None
    topic: str | None = Field(default=None, max_length=200)


class ProfileBody(Body):
    model_config = ConfigDict(strict=True, extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    email: Email | None = None


class IdentifyBody(Body):
    user_id: str = Field(min_length=1, max_length=128)
    user_hash: str | None = Field(default=None, min_length=1, max_length=128)
    name: str | None = Field(default=None, max_length=100)
    email: Email | None = None
    attributes: dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], AttributeValue] | None = Field(
        default=None, max_length=20)


class SignUpIdentityBody(SignUpBody):
    """``POST /api/visitors``: a name and email, and optionally an identity (as ``identify``)."""

    user_id: str | None = Field(default=None, min_length=1, max_length=128)
    user_hash: str | None = Field(default=None, min_length=1, max_length=128)
    attributes: dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], AttributeValue] | None = Field(
        default=None, max_length=20)


class TranscriptBody(Body):
    email: Email | None = None


class RatingBody(Body):
    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)


class AttachmentBody(Body):
    filename: str = Field(min_length=1, max_length=200)
    content_type: str = Field(min_length=1, max_length=100)
    size: int = Field(ge=1)
    session_id: str | None = Field(default=None, min_length=1, max_length=64)


Interval = Annotated[list[Annotated[str, StringConstraints(pattern=HHMM)]], Field(min_length=2, max_length=2)]
Prechat = Literal["off", "optional", "required"]


class BusinessHours(Body):
    model_config = ConfigDict(strict=True, extra="forbid")

    timezone: str = Field(min_length=1, max_length=64)
    weekly: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], list[Interval]] = Field(default_factory=dict)

    def model_post_init(self, _context) -> None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {self.timezone!r}") from e
        from chalicelib.services.business_hours import minutes_of

        for day, intervals in self.weekly.items():
            for start, end in intervals:
                if start == "24:00" or minutes_of(start) >= minutes_of(end):
                    raise ValueError(f"{day}: {start}-{end} must open before it closes")


class PrechatFields(Body):
    model_config = ConfigDict(strict=True, extra="forbid")

    name: Prechat = "optional"
    email: Prechat = "optional"


class WidgetSettingsBody(Body):
    """The whole settings document (``PUT /api/widget/settings``); a field left out takes its default."""

    model_config = ConfigDict(strict=True, extra="forbid")

    color: str = Field(default="#2f6fed", pattern=r"^#(?:[0-9a-fA-F]{3}){1,2}$")
    position: Literal["right", "left"] = "right"
    greeting: str | None = Field(default=None, min_length=1, max_length=500)
    offline_text: str = Field(default="We're away right now. Leave your email and we'll reply there.",
                              min_length=1, max_length=500)
    avatar_url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://\S+$")
    prechat: PrechatFields = Field(default_factory=PrechatFields)
    business_hours: BusinessHours | None = None


# --- the console's saved replies (#20) ----------------------------------------------------------

SHORTCUT = r"^[\w.-]{1,32}$"


class CannedResponseBody(Body):
    model_config = ConfigDict(strict=True, extra="forbid")

    scope: Literal["team", "personal"] = "personal"
    shortcut: str = Field(min_length=1, max_length=32, pattern=SHORTCUT)
    text: str = Field(min_length=1, max_length=4000)
    title: str | None = Field(default=None, max_length=100)


class PatchCannedResponseBody(Body):
    model_config = ConfigDict(strict=True, extra="forbid")

    shortcut: str | None = Field(default=None, min_length=1, max_length=32, pattern=SHORTCUT)
    text: str | None = Field(default=None, min_length=1, max_length=4000)
    title: str | None = Field(default=None, max_length=100)
