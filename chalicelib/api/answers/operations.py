"""The team's tools: assignment (``/api/kefu``), connections and presence (``/api/operations``...),
the system's health, info and performance."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.api.answers.common import Answer, Iso

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
    roster_fixed: list[str]
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
