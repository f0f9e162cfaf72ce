"""Ending, releasing and handing back sessions, with their effects after the commit.

Each public operation commits through ``release`` and then tells the people concerned and serves
the queue; a failed notice or dispatch never turns the committed operation into an error.
Operations loop on a fresh read when the session moved meanwhile (a customer ending while their
agent goes offline ends, instead of being handed to another agent or answered 409).
"""

from __future__ import annotations

import time

from chalicelib.config import get_config
from chalicelib.errors import Conflict, Forbidden, NotFound
from chalicelib.models import AgentModel, AssignmentModel, SessionModel
from chalicelib.models.base import fetch, get_or_none, rounds
from chalicelib.models.batch import get_all
from chalicelib.observability import logger
from chalicelib.services import connections, notify
from chalicelib.services.assignment import claims, dispatch, matching, offline, queue, release, slots
from chalicelib.services.assignment.deadline import UNBOUNDED, Deadline
from chalicelib.services.assignment.effects import after_commit
from chalicelib.services.assignment.results import Release

END_ROUNDS = 4


def _ended(session_id: str, ended_by: str, reason: str, agent_id: str | None) -> SessionModel:
    """Effects of an end that committed: the claim goes, both sides are told, the queue moves."""
    session = fetch(SessionModel, session_id, "session")
    after_commit("claim", claims.release_claim, session.visitor_id, session.session_id)
    after_commit("notify", notify.session_ended, session, ended_by, reason, agent_id)
    return session


def end_session(session: SessionModel, ended_by: str, reason: str = "ended",
                only_agent: str | None = None, deadline: Deadline = UNBOUNDED) -> SessionModel:
    """End an open session: a waiting one leaves the queue, an active one frees its agent.
    ``only_agent``: the caller may end it only while it is with that agent (checked on the read
    the release acts on). ``deadline`` bounds the queue's moves after it."""
    for _ in rounds(END_ROUNDS):
        if only_agent is not None and session.agent_id != only_agent:
            raise Forbidden("you are not a participant of this session")
        if session.status == "queued":
            if release.finish_waiting(session, ended_by, reason):
                ended = _ended(session.session_id, ended_by, reason, None)
                after_commit("announce", dispatch.announce_positions, deadline=deadline)
                return ended
        elif session.status == "active":
            assignment = release.get_assignment(session.visitor_id)
            if assignment is None or assignment.session_id != session.session_id:
                done = release.end_orphan(session, ended_by, reason)
            elif assignment.agent_id != session.agent_id:
                done = False  # moving (a transfer): read both again
            else:
                done = release.release_assignment(assignment, release.end_actions(ended_by, reason)) \
                    is Release.RELEASED
            if done:
                fresh = fetch(SessionModel, session.session_id, "session")
                if not fresh.is_open:
                    ended = _ended(session.session_id, ended_by, reason, session.agent_id)
                    after_commit("dispatch", dispatch.dispatch_queue, deadline=deadline, made_room=session.agent_id)
                    return ended
        elif session.status == "offline":
            if offline.finish(session, ended_by, reason):
                return _ended(session.session_id, ended_by, reason, None)
        else:
            raise Conflict("session already ended")
        session = fetch(SessionModel, session.session_id, "session")
    raise Conflict("session is changing right now; try again")


def release_customer(customer_id: str, ended_by: str, reason: str = "released",
                     expected_agent: str | None = None) -> AssignmentModel:
    """Free the customer's agent and end their conversation; 404 when they have no agent.
    ``expected_agent``: act only on an assignment to that agent (authorised on the same read)."""
    assignment = release.get_assignment(customer_id)
    if assignment is None:
        raise NotFound(f"customer {customer_id} has no agent")
    if expected_agent is not None and assignment.agent_id != expected_agent:
        raise NotFound(f"customer {customer_id} has no agent of yours")
    if release.release_assignment(assignment, release.end_actions(ended_by, reason)) is not Release.RELEASED:
        raise NotFound(f"customer {customer_id} has no agent")
    _ended(assignment.session_id, ended_by, reason, assignment.agent_id)
    after_commit("dispatch", dispatch.dispatch_queue, made_room=assignment.agent_id)
    return assignment


def requeue_agent_sessions(agent_id: str, deadline: Deadline = UNBOUNDED) -> int:
    """Hand back every customer of an agent who left for good: each waits at the front of the
    queue, or ends (``visitor_left``) when the visitor has no live socket (closed, or silent past
    the heartbeat window); one who never opened a socket (a REST client) waits like the others.
    One customer's failure does not stop the others. At the deadline it stops between customers:
    the sweep hands back the rest of an offline agent's customers on its next run.

    The customers come from the agent item (``customer_ids``, read consistently): the ``by_agent``
    index of assignments lags without bound, so a customer assigned a moment before may be missing
    from it for seconds. The index is read too, for assignments older than ``customer_ids``."""
    lag = get_config().index_lag_seconds
    moved = 0
    requeued: set[str] = set()
    tried: set[str] = set()

    def hand_back_each(customer_ids) -> None:
        nonlocal moved
        for customer_id in customer_ids:
            if customer_id in tried:
                continue
            if deadline.passed():
                break
            tried.add(customer_id)
            try:
                if _hand_back(customer_id, agent_id, requeued):
                    moved += 1
            except Exception:  # the next customer must still be handed back; the sweep retries this one
                logger.exception("hand back failed", agent_id=agent_id, customer_id=customer_id)

    agent = get_or_none(AgentModel, agent_id)
    if agent is not None and agent.customer_ids:
        hand_back_each(sorted(agent.customer_ids))
    for round_ in range(matching.LOOK_AGAIN + 1):
        if deadline.passed():
            break
        if round_:
            # An assignment older than ``customer_ids`` and made a moment ago may be missing from
            # the index: while the agent (read consistently) still counts customers and was
            # assigned one recently, look again.
            agent = get_or_none(AgentModel, agent_id)
            if agent is None or int(agent.active_count) <= 0 or not slots.assigned_recently(agent, lag):
                break
            time.sleep(lag / matching.LOOK_AGAIN)
        hand_back_each(listed.customer_id for listed in AssignmentModel.by_agent.query(agent_id))
    if requeued and not after_commit("dispatch", dispatch.dispatch_queue, deadline=deadline):
        after_commit("announce", dispatch.announce_positions, deadline=deadline)  # dispatch announces when it moved
    return moved


def _hand_back(customer_id: str, agent_id: str, requeued: set[str]) -> bool:
    assignment = release.get_assignment(customer_id)
    if assignment is None or assignment.agent_id != agent_id:
        return False  # the index was behind
    session = get_or_none(SessionModel, assignment.session_id)
    if session is not None and (session.visitor_left_at is not None or session.visitor_sockets) \
            and not connections.is_present(session.visitor_id, "visitor"):
        if release.release_assignment(assignment, release.end_actions("system", "visitor_left")) \
                is not Release.RELEASED:
            return False
        _ended(assignment.session_id, "system", "visitor_left", agent_id)
        return True
    with queue.held_ticket(front=True) as ticket:
        if release.release_assignment(assignment, release.requeue_actions(ticket.number), ticket=ticket) \
                is not Release.RELEASED:
            return False
    fresh = fetch(SessionModel, assignment.session_id, "session")
    if fresh.status == "queued":
        requeued.add(fresh.session_id)
        after_commit("notify", notify.session_released, fresh, agent_id, assignment.agent_name)
    elif session is not None:
        # It moved on at once (the customer ended it, or another agent took it): those frames
        # never reach the former agent, who must still hear the release, at the version it wrote
        # (the release needed the session active with this agent, so one above the version read).
        session.version = session.state_version + 1
        after_commit("notify", notify.session_released, session, agent_id, assignment.agent_name)
    return True


def active_sessions_of(agent_id: str) -> list[SessionModel]:
    """The agent's current conversations (from their assignments, confirmed), newest first.

    The customers come from the agent item (``customer_ids``, read consistently, written with the
    count): the ``by_agent`` index of assignments lags without bound, and after a lag spike a
    console reloaded seconds after an assignment did not list it. The index is read too, for
    assignments older than ``customer_ids``; when it still lists fewer than the agent's count
    and the last assignment is recent, it is read again, within ``KEFU_INDEX_LAG``."""
    lag = get_config().index_lag_seconds
    agent, sessions = _confirmed_sessions_of(agent_id)
    for _ in range(matching.LOOK_AGAIN):
        if agent is None or len(sessions) >= int(agent.active_count) or not slots.assigned_recently(agent, lag):
            break
        time.sleep(lag / matching.LOOK_AGAIN)
        agent, sessions = _confirmed_sessions_of(agent_id)
    return sorted(sessions, key=lambda s: s.created_at, reverse=True)


def _confirmed_sessions_of(agent_id: str) -> tuple[AgentModel | None, list[SessionModel]]:
    """The agent as read, and the sessions of their assignments that are active with them as
    stored: the index first, then the agent (so every assignment committed before that read is in
    its ``customer_ids`` and its count), then the assignments and their sessions, each in one
    consistent batch read."""
    customer_ids = {listed.customer_id for listed in AssignmentModel.by_agent.query(agent_id)}
    agent = get_or_none(AgentModel, agent_id)
    customer_ids |= set(agent.customer_ids or ()) if agent is not None else set()
    held = [a.session_id for a in get_all(AssignmentModel, sorted(customer_ids)) if a.agent_id == agent_id]
    return agent, [session for session in get_all(SessionModel, held)
                   if session.status == "active" and session.agent_id == agent_id]
