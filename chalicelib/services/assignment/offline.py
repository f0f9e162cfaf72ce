"""Conversations waiting for an agent while nobody could answer (status ``offline``).

They hold no agent's slot and are not in the queue, so neither the queue counter nor any agent
count moves for them, and the sweeps (which read the queue and the ``active`` sessions) never end
them for lack of a socket. They leave this state by being taken by hand (``matching.attempt``,
through ``dispatch.accept_session``), by joining the queue (``enqueue``) or by ending (``finish``),
each a write conditioned on the session still waiting offline at the version read.
"""

from __future__ import annotations

from chalicelib import clock
from chalicelib.models import CounterModel, SessionModel
from chalicelib.models.base import Transaction
from chalicelib.models.session import QUEUE_POOL, next_version
from chalicelib.observability import logger
from chalicelib.services import notify
from chalicelib.services.assignment import queue
from chalicelib.services.assignment.effects import after_commit
from chalicelib.services.assignment.release import end_actions


def create(session: SessionModel, claim: CounterModel) -> bool:
    """Create ``session`` waiting offline with the visitor's open-session claim, in one
    transaction; False when another start holds the claim. The visitor is told."""
    now = clock.iso()
    session.status, session.offline_at = "offline", now
    tx = Transaction()
    tx.put("claim", claim, condition=CounterModel.name.does_not_exist())
    tx.put("session", session, condition=SessionModel.session_id.does_not_exist())
    if tx.commit():
        return False
    logger.info("offline session started", session_id=session.session_id, visitor_id=session.visitor_id)
    after_commit("notify", notify.session_offline, session)
    return True


def enqueue(session: SessionModel, ticket: queue.Ticket) -> bool:
    """Move a session waiting offline into the queue with ``ticket`` (the same transaction uses
    it); False when it is no longer waiting offline at the version read. On success ``session``
    shows what was written."""
    now = clock.iso()
    tx = Transaction()
    tx.update("session", SessionModel(session.session_id),
              actions=[*queue.queue_actions(ticket.number, now), SessionModel.offline_at.remove(), next_version()],
              condition=(SessionModel.status == "offline") & session.at_version())
    queue.add_use(tx, ticket)
    if tx.commit():
        return False
    session.status, session.queue_ticket, session.queued_at, session.offline_at = "queued", ticket.number, now, None
    session.queue_pool = QUEUE_POOL
    session.advanced()
    return True


def finish(session: SessionModel, ended_by: str, reason: str) -> bool:
    """End a session waiting offline; False when it moved meanwhile. On success ``session``
    carries the version written."""
    tx = Transaction()
    tx.update("session", SessionModel(session.session_id), actions=end_actions(ended_by, reason),
              condition=(SessionModel.status == "offline") & session.at_version())
    if tx.commit():
        return False
    session.advanced()
    return True
