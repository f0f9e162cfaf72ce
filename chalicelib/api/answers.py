"""What each route answers (Pydantic), for the OpenAPI document (``api/openapi.py``).

Views build plain dicts (most invocations never import Pydantic); these models describe them, and
the contract test runs every route against the document (schemathesis), so a view that answers
something else fails there. ``extra="allow"``: a client must ignore fields it does not know, so a
new field is not a breaking change, but every field named here has exactly this type.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


Iso = str  # an ISO 8601 UTC timestamp, e.g. 2024-05-01T12:00:00.000000+00:00


class ErrorAnswer(Answer):
    """Every refusal: a stable ``error`` code and a readable ``message`` (429s add ``retry_after``)."""

    error: str
    message: str


# -- people ------------------------------------------------------------------------------------


class Agent(Answer):
    agent_id: str
    username: str
    display_name: str | None
    role: Literal["agent", "admin"]
    status: str
    max_concurrent: int
    active: int
    last_assigned_at: Iso | None
    created_at: Iso | None
    disabled: bool


class AgentList(Answer):
    agents: list[Agent]


class Login(Answer):
    token: str
    expires_at: Iso
    agent: Agent


class SignUp(Answer):
    visitor_id: str
    name: str | None
    token: str
    expires_at: Iso


# -- sessions and messages ---------------------------------------------------------------------


class Party(Answer):
    id: str | None
    name: str | None


class Session(Answer):
    session_id: str
    visitor: Party
    agent: Party | None
    status: str
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


class SessionState(Session):
    position: int | None
    position_seq: int | None


class SessionList(Answer):
    sessions: list[Session]


class Sender(Answer):
    type: str
    id: str | None
    name: str | None


class Message(Answer):
    id: str
    session_id: str
    sender: Sender
    text: str
    created_at: Iso
    client_msg_id: str | None
    read_at: Iso | None = None
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


class ReadReceipt(Answer):
    session_id: str
    up_to: str | None
    updated: int
    complete: bool


class BulkDeleted(Answer):
    session_id: str
    deleted: list[str]
    not_found: list[str]


# -- assignment (/api/kefu) --------------------------------------------------------------------


class AssignedAgent(Answer):
    id: str | None
    name: str | None


class Assignment(Answer):
    customer_id: str
    agent: AssignedAgent
    session_id: str | None
    assigned_at: Iso | None
    expires_at: Iso | None = None


class Queued(Answer):
    customer_id: str
    session_id: str
    queued: Literal[True]
    position: int | None


class Released(Answer):
    customer_id: str
    released_agent_id: str | None
    session_id: str | None


class Cleanup(Answer):
    """What one sweep did (the scheduled one does the same every minute)."""

    expired_released: list[dict]
    counts_fixed: list[dict]
    agents_unpooled: list[str]
    agents_offline: list[str]
    sessions_abandoned: list[str]
    sessions_repaired: list[str]
    tickets_given_back: list[int]
    dispatched: int
    errors: list[dict]
    complete: bool


class QueueEntry(Answer):
    session_id: str
    customer_id: str
    customer_name: str | None
    position: int
    ticket: int
    waiting_since: Iso | None
    wait_seconds: float


class Queue(Answer):
    queue: list[QueueEntry]
    next: int | None = Field(default=None, description="pass as ?after= for the next page")


class AgentLoad(Answer):
    agent_id: str
    display_name: str | None
    status: str
    is_available: bool
    active: int
    max_concurrent: int
    last_assigned_at: Iso | None


class AgentLoads(Answer):
    agents: list[AgentLoad]


# -- operations --------------------------------------------------------------------------------


class OnlineUser(Answer):
    user_id: str
    user_type: str
    name: str | None
    connections: int
    last_seen_at: Iso | None
    status: str


class OnlineUsers(Answer):
    users: list[OnlineUser]
    next: str | None


class Connection(Answer):
    connection_id: str
    user_id: str
    user_type: str
    role: str | None
    name: str | None
    connected_at: Iso | None
    last_seen_at: Iso | None
    live: bool
    source_ip: str | None
    user_agent: str | None
    expires_at: Iso | None


class Connections(Answer):
    connections: list[Connection]
    next: str | None


class ConnectionDetail(Answer):
    connection_id: str
    gateway: dict | None = None


class Closed(Answer):
    connection_id: str
    was_open: bool
    record_removed: bool


class Disconnected(Answer):
    user_id: str
    user_type: str
    tokens_revoked: bool
    closed: list[Closed]


class WebSocketStats(Answer):
    at: Iso
    connections: dict
    windows: dict


# -- system and metrics ------------------------------------------------------------------------


class Health(Answer):
    """Public: ``status`` and ``checked_at``; an admin's token adds the per-table ``checks``."""

    status: Literal["ok", "degraded"]
    checked_at: Iso
    checks: list[dict] | None = None


class Info(Answer):
    app: str
    version: str
    stage: str
    region: str | None
    python_version: str
    tables: dict[str, str]
    container_started_at: Iso | None
    cold_start_ms: float | None
    websocket_url: str | None
    management_endpoint: str | None


class Resources(Answer):
    container: dict
    tables: dict[str, dict]
    management_endpoint: str | None


class Performance(Answer):
    window_minutes: int
    from_: Iso = Field(alias="from")
    to: Iso
    rest: dict[str, dict]
    websocket: dict[str, dict]
    bin_upper_edges_ms: list[float]


class OpenApiDocument(Answer):
    openapi: str
    info: dict
    paths: dict


# -- analytics (figures documented in docs/analytics.md) ---------------------------------------


class Statistics(Answer):
    from_: str = Field(alias="from")
    to: str
    per_agent: dict | list | None = None
    partial: bool | None = None


class Report(Answer):
    date: str
    partial: bool | None = None
    overall: dict


class Reports(Answer):
    reports: list[Report]


class Insights(Answer):
    days: int
    current: dict
    previous: dict
    figures: dict | list
    peak_hours: list[dict]
    agents_moved: list[dict] | dict


class GeneratedReports(RootModel[Report | Reports]):
    """One day's report (``date`` given), or every day's of ``from``..``to``."""
