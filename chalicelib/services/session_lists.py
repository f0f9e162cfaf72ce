"""Session listings: a visitor's, an agent's and the admin's, newest first, read through indexes
and confirmed where a reconnecting client would keep a stale row."""

from __future__ import annotations

import itertools
from typing import Any

from chalicelib.models import SessionModel
from chalicelib.models.batch import BATCH_GET_LIMIT, get_all, get_in_order
from chalicelib.models.session import OPEN_STATUSES
from chalicelib.services import assignment
from chalicelib.services.tokens import Principal

OWN_ACTIVE_LIMIT = 100


def list_sessions(principal: Principal, status: str | None = None, agent_id: str | None = None,
                  limit: int = 50) -> list[SessionModel]:
    """Newest first. Visitors and agents get their own; admins may filter by status or agent.
    Reads pages of ``limit`` items with the status filtered by DynamoDB, never a whole history;
    an agent's active sessions come from their current assignments."""
    if principal.typ == "visitor":
        # A session that reached ``status`` a moment ago may still show an open status in the
        # index: the open ones (a visitor holds one at most) are listed too, judged as stored.
        also, read = (OPEN_STATUSES, limit + 1) if status else ((), limit)
        return _with_open_session(_newest(SessionModel.by_visitor, principal.user_id, status, read, also),
                                  principal.user_id, status, limit)
    if principal.is_admin and agent_id:
        return agent_sessions(agent_id, limit, (status,) if status else None)
    if principal.is_admin and status:
        return confirmed_by_status(status, limit)
    if status == "active":
        return assignment.active_sessions_of(principal.user_id)[:limit]
    return agent_sessions(principal.user_id, limit, (status,) if status else None)


def agent_sessions(agent_id: str, limit: int, statuses: tuple[str, ...] | None = None,
                   before: str | None = None) -> list[SessionModel]:
    """Up to ``limit`` of the agent's sessions (in ``statuses``; begun before ``before``), newest
    first, as stored now: the ``by_agent`` index says which, a consistent batch read per page of
    it their state, so one ended a moment ago is listed as ended and one transferred away a moment
    ago is left out (the index's copy may be seconds old)."""
    condition = SessionModel.created_at < before if before else None
    # The index's copy may be in an earlier status; a session's status only moves on from active
    # (to ended or abandoned) while the agent holds it, so "active" copies are read too.
    wanted = SessionModel.status.is_in(*dict.fromkeys((*statuses, "active"))) if statuses else None
    page_size = min(max(limit, 25), BATCH_GET_LIMIT)
    listed = SessionModel.by_agent.query(agent_id, condition, scan_index_forward=False, page_size=page_size,
                                         filter_condition=wanted, attributes_to_get=["session_id"])
    found: list[SessionModel] = []
    while len(found) < limit:
        ids = [s.session_id for s in itertools.islice(listed, page_size)]
        found += [s for s in get_in_order(SessionModel, ids)
                  if s.agent_id == agent_id and (statuses is None or s.status in statuses)]
        if len(ids) < page_size:
            break
    return found[:limit]


def unassigned_sessions(status: str, limit: int = 50) -> list[SessionModel]:
    """Conversations waiting for an agent (``offline`` or ``queued``), newest first, for any agent."""
    return confirmed_by_status(status, limit)


def confirmed_by_status(status: str, limit: int = 50) -> list[SessionModel]:
    """The sessions in ``status``, newest first: found through the ``by_status`` index, confirmed
    by one consistent batch read (the index may still list one that moved on a moment ago, or
    show an old agent seconds after a transfer)."""
    listed = [s.session_id for s in SessionModel.by_status.query(status, scan_index_forward=False, limit=limit)]
    return [s for s in get_in_order(SessionModel, listed) if s.status == status]


def own_sessions(principal: Principal) -> list[SessionModel]:
    """What a reconnecting client asks for first: a visitor's recent sessions; an agent's own
    active ones, an admin's too (admins list everyone's through ``list_sessions``)."""
    if principal.typ == "visitor":
        return list_sessions(principal, limit=20)
    return assignment.active_sessions_of(principal.user_id)[:OWN_ACTIVE_LIMIT]


def _with_open_session(listed: list[SessionModel], visitor_id: str, status: str | None,
                       limit: int) -> list[SessionModel]:
    """The visitor's index listing, each as stored now: the index lags, so one started a moment
    ago may be missing and one just assigned or ended may show its old state (a reconnecting
    client would keep it). The listed ones are read again in one consistent batch; the open
    session (one at most, the newest) is read consistently through its claim."""
    current = assignment.open_session_of(visitor_id)
    stored = {s.session_id: s for s in get_all(SessionModel, [s.session_id for s in listed])}
    listed = [stored.get(s.session_id, s) for s in listed]
    listed = [s for s in listed if status is None or s.status == status]
    others = [s for s in listed if current is None or s.session_id != current.session_id]
    if current is None or (status is not None and current.status != status):
        return others[:limit]
    return [current, *others][:limit]


def _newest(index: Any, key: str, status: str | None, limit: int,
            also: tuple[str, ...] = ()) -> list[SessionModel]:
    """The newest ``limit`` of the index's copies under ``key`` (with ``status``, or one of
    ``also``)."""
    statuses = sorted({status, *also}) if status else []
    condition = SessionModel.status.is_in(*statuses) if statuses else None
    return list(index.query(key, scan_index_forward=False, filter_condition=condition, limit=limit,
                            page_size=max(limit, 25)))
