"""Typed results of the assignment system: what happened, as values that steer control flow."""

from __future__ import annotations

import enum
from typing import Any

import msgspec

from chalicelib.models import SessionModel


class Attempt(enum.Enum):
    """The outcome of one assignment or transfer transaction."""

    DONE = "done"
    AGENT_BUSY = "agent_busy"  # the agent's condition failed (count moved, full, gone): try again
    SESSION_GONE = "session_gone"  # the session is no longer where this attempt expected it
    CUSTOMER_TAKEN = "customer_taken"  # the customer already has an agent (another open session)


class Release(enum.Enum):
    """The outcome of releasing one assignment."""

    RELEASED = "released"
    ALREADY_GONE = "already_gone"  # someone else released or moved it first


class AssignOutcome(msgspec.Struct):
    """What happened to a session: assigned to ``agent`` or waiting at ``position``."""

    session: SessionModel
    agent_id: str | None = None
    agent_name: str | None = None
    assigned_at: str | None = None
    position: int | None = None

    @property
    def is_assigned(self) -> bool:
        return self.agent_id is not None


class SweepReport(msgspec.Struct):
    """What one cleanup run did; ``complete`` is False when it stopped early (deadline) and the
    next run carries on."""

    expired_released: list[dict[str, Any]] = msgspec.field(default_factory=list)
    counts_fixed: list[dict[str, Any]] = msgspec.field(default_factory=list)
    agents_unpooled: list[str] = msgspec.field(default_factory=list)
    agents_offline: list[str] = msgspec.field(default_factory=list)
    roster_fixed: list[str] = msgspec.field(default_factory=list)  # agents put on or taken off the roster
    sessions_abandoned: list[str] = msgspec.field(default_factory=list)
    sessions_repaired: list[str] = msgspec.field(default_factory=list)
    tickets_given_back: list[int] = msgspec.field(default_factory=list)
    dispatched: int = 0
    errors: list[dict[str, str]] = msgspec.field(default_factory=list)
    complete: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "expired_released": self.expired_released,
            "counts_fixed": self.counts_fixed,
            "agents_unpooled": self.agents_unpooled,
            "agents_offline": self.agents_offline,
            "roster_fixed": self.roster_fixed,
            "sessions_abandoned": self.sessions_abandoned,
            "sessions_repaired": self.sessions_repaired,
            "tickets_given_back": self.tickets_given_back,
            "dispatched": self.dispatched,
            "errors": self.errors,
            "complete": self.complete,
        }
