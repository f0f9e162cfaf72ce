"""Release: the transactions that free an agent's slot or take a session out of the queue.

Deleting the assignment (conditioned on its agent and session) is in the same transaction as the
agent's decrement and the session's change, so a slot is freed exactly once and a count never
goes below zero. These functions only write; ``lifecycle`` adds the effects (notices, dispatch).
"""

from __future__ import annotations

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.errors import Conflict
from chalicelib.models import AgentModel, AssignmentModel, SessionModel
from chalicelib.models.base import CONDITION_FAILED, Transaction, conditional, get_or_none, rounds
from chalicelib.models.session import next_version
from chalicelib.services.assignment import queue, slots
from chalicelib.services.assignment.results import Release

RELEASE_ATTEMPTS = 10


def get_assignment(customer_id: str) -> AssignmentModel | None:
    """The customer's assignment as stored now."""
    return get_or_none(AssignmentModel, customer_id)


def end_actions(ended_by: str, reason: str, status: str = "ended", at: str | None = None) -> list:
    return [
        SessionModel.status.set(status),
        SessionModel.ended_at.set(at or clock.iso()),
        SessionModel.ended_by.set(ended_by),
        SessionModel.end_reason.set(reason),
        SessionModel.queue_pool.remove(),
        next_version(),
    ]


def requeue_actions(ticket: int) -> list:
    return [*queue.queue_actions(ticket, clock.iso()), SessionModel.agent_id.remove(),
            SessionModel.agent_name.remove(), next_version()]


def release_assignment(assignment: AssignmentModel, session_actions: list | None, *,
                       expired_before: int | None = None, ticket: queue.Ticket | None = None) -> Release:
    """Delete ``assignment``, decrement its agent and apply ``session_actions`` to its session (if
    still active with that agent), all or nothing. ``ticket``: the session goes back to the queue
    with it, and the same transaction uses it (``ticket.used`` says whether it did).

    Exact first (count, ``load_key`` and ``pool`` from one read); after losing a race on the
    agent, additive (``ADD -1`` while above zero) and ``fix_agent_index``.
    """
    additive = False
    for _ in rounds(RELEASE_ATTEMPTS):
        agent = get_or_none(AgentModel, assignment.agent_id)
        tx = Transaction()
        condition = (AssignmentModel.agent_id == assignment.agent_id) & (
            AssignmentModel.session_id == assignment.session_id)
        if expired_before is not None:
            # An expiry must not win over a message that just extended the assignment.
            condition &= AssignmentModel.expires_at < expired_before
        tx.delete("assignment", assignment, condition=condition)
        if agent is not None:
            slots.add_decrement(tx, agent, assignment.customer_id, additive=additive)
        if session_actions:
            tx.update("session", SessionModel(assignment.session_id), actions=session_actions,
                      condition=(SessionModel.agent_id == assignment.agent_id) & (SessionModel.status == "active"))
            if ticket is not None:
                queue.add_use(tx, ticket)
        failed = tx.commit()  # a lost answer is retried with the same token: only our commit is {}
        if failed.get("assignment") == CONDITION_FAILED:
            return Release.ALREADY_GONE
        if failed.get("session") == CONDITION_FAILED:
            # The session moved on by another path; still free the slot exactly once (the ticket
            # unused: its holder gives it back).
            session_actions = None
            continue
        if failed.get("ticket") == CONDITION_FAILED:
            raise Conflict("the queue ticket was given back meanwhile; try again")
        if failed.get("agent") == CONDITION_FAILED:
            additive = not additive  # contended: ADD; a count already at zero: exact again
            continue
        if failed:
            continue
        if ticket is not None and session_actions:
            ticket.used = True
        if additive:
            slots.fix_agent_index(assignment.agent_id)
        return Release.RELEASED
    raise Conflict("agent counters are too busy; try again")


def finish_waiting(session: SessionModel, ended_by: str, reason: str, status: str = "ended") -> bool:
    """End a session that is still waiting; it leaves the queue exactly once. False when it was
    no longer waiting with this ticket. On success ``session`` carries the version written."""
    condition = (SessionModel.status == "queued") & session.at_version()
    if session.queue_ticket is not None:
        condition &= SessionModel.queue_ticket == session.queue_ticket
    else:
        condition &= SessionModel.queue_ticket.does_not_exist()
    tx = Transaction()
    tx.update("session", SessionModel(session.session_id), actions=end_actions(ended_by, reason, status),
              condition=condition)
    if session.queue_ticket is not None:
        queue.add_leave(tx, session.queue_ticket)
    if tx.commit():
        return False
    session.advanced()
    return True


def end_orphan(session: SessionModel, ended_by: str, reason: str) -> bool:
    """End an active session that has no assignment (a crash between writes); cleanup fixes the
    counts. A retry after a lost answer recognises its own end by its ``ended_at``."""
    ended_at = clock.iso()

    def ended_by_this_call() -> bool:
        stored = get_or_none(SessionModel, session.session_id)
        return stored is not None and (stored.status, stored.ended_at, stored.ended_by, stored.end_reason) == (
            "ended", ended_at, ended_by, reason)

    return conditional(lambda: SessionModel(session.session_id).update(
        actions=end_actions(ended_by, reason, at=ended_at),
        condition=(SessionModel.status == "active") & (SessionModel.agent_id == session.agent_id)),
        already_done=ended_by_this_call)


def add_touch(tx: Transaction, customer_id: str, session_id: str) -> None:
    """Add "activity in the session" to ``tx`` (a message's transaction): its assignment's expiry
    pushed out by ``KEFU_ASSIGNMENT_TTL``, on the condition that it is still this session's."""
    expires_at = int(clock.epoch() + get_config().assignment_ttl_seconds)
    tx.update("assignment", AssignmentModel(customer_id), actions=[AssignmentModel.expires_at.set(expires_at)],
              condition=AssignmentModel.session_id == session_id)
