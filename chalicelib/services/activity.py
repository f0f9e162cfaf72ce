"""Recording the activity log (``models.activity``): one call where each event has committed.

Recording is a side note to an operation that already happened: it never raises. A failed write
is logged and counted (``ActivityRecordFailed``) and the operation's caller sees success.
"""

from __future__ import annotations

from typing import Any

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.models.activity import ActivityModel, agents_bucket, session_bucket, session_shard
from chalicelib.models.base import retrying
from chalicelib.observability import count, logger


def _event(bucket: str, kind: str, at: str, **fields: Any) -> ActivityModel:
    retention = get_config().message_retention_days * 86400
    return ActivityModel(bucket, f"{at}#{clock.sortable_id()}", kind=kind, at=at,
                         expires_at=int(clock.epoch_of(at) + retention),
                         **{k: v for k, v in fields.items() if v is not None})


def _record(bucket: str, kind: str, at: str, **fields: Any) -> None:
    event = _event(bucket, kind, at, **fields)
    try:
        retrying(event.save)  # a put: sending it again cannot record it twice
    except Exception:  # a lost analytics event must not fail a committed operation
        logger.exception("activity not recorded", kind=kind, **fields)
        count("ActivityRecordFailed")


def _session_event(session: Any, kind: str, at: str | None = None, **fields: Any) -> None:
    created_day = session.created_day or session.created_at[:10]
    _record(session_bucket(created_day, session_shard(session.session_id)), kind, at or clock.iso(),
            session_id=session.session_id, **fields)


def assigned_event(session: Any, agent_id: str, at: str) -> ActivityModel:
    """"An agent took the session" (automatically or by hand), for the assignment's own
    transaction to write: the record exists exactly when the assignment does."""
    created_day = session.created_day or session.created_at[:10]
    return _event(session_bucket(created_day, session_shard(session.session_id)), "assigned", at,
                  session_id=session.session_id, agent_id=agent_id)


def session_transferred(session: Any, from_agent_id: str, to_agent_id: str) -> None:
    """An active session moved from one agent to another."""
    _session_event(session, "transferred", agent_id=to_agent_id, other_agent_id=from_agent_id)


def session_released(session: Any, agent_id: str) -> None:
    """An agent let go of a session that goes on waiting (the agent went offline)."""
    _session_event(session, "released", agent_id=agent_id)


def session_ended(session: Any, reason: str, agent_id: str | None) -> None:
    """A session closed (``agent_id``: who held it then, if anyone)."""
    _session_event(session, "ended", session.ended_at, agent_id=agent_id, reason=reason)


def agent_status_changed(agent_id: str, status: str) -> None:
    """An agent's status is now ``status`` (online / away / offline)."""
    at = clock.iso()
    _record(agents_bucket(at[:10]), "status", at, agent_id=agent_id, status=status)
