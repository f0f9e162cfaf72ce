"""Dispatch: new sessions placed, the queue served in order, and sessions accepted by hand.

Every write that may open a slot or add a waiter dispatches: walk the queue index in ticket order
from the head, confirm each listed session with a consistent read (the index may still list a
session just assigned or ended, or miss a new one), and give it to the best agent, until nobody
has room. Each move is conditioned on the session still waiting, so it happens once however many
dispatchers run; the walk never revisits a ticket, so it ends however stale the index is.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.errors import CapacityFull, Conflict
from chalicelib.models import CounterModel, SessionModel
from chalicelib.models.base import Transaction, fetch, get_or_none, rounds
from chalicelib.models.batch import get_all
from chalicelib.models.counter import QUEUE_COUNTER
from chalicelib.models.session import QUEUE_POOL
from chalicelib.observability import logger
from chalicelib.services import connections, notify
from chalicelib.services.assignment import announcer, claims, matching, queue, release, slots
from chalicelib.services.assignment import offline as offline_waiting
from chalicelib.services.assignment.deadline import UNBOUNDED, Deadline
from chalicelib.services.assignment.effects import after_commit
from chalicelib.services.assignment.results import AssignOutcome, Attempt

MAX_DISPATCH_PER_CALL = 100
HEAD_PAGE = 10
OPEN_ATTEMPTS = 4


def open_session(visitor_id: str, visitor_name: str | None, topic: str | None,
                 visitor_sockets: set[str] | None = None, *, offline: bool = False,
                 details: dict[str, Any] | None = None,
                 admit: Callable[[], None] | None = None) -> tuple[AssignOutcome, bool]:
    """The visitor's open session, or a new one placed with an agent or in the queue; and
    whether it is new (its participants were then told). ``visitor_sockets``: the visitor's open
    sockets as the caller just saw them on their item (read here otherwise); the session records
    them, and the assignment holds them by its condition.

    Nobody waiting: the session is created already assigned, in the assignment transaction.
    Otherwise, or when nobody has room, it is created waiting with its ticket (one write, so a
    queued session is always in the queue index), announced, and the queue dispatched: whoever
    writes second, of this and a slot opening, sees the other's write. ``offline`` (nobody can
    answer now): created waiting for an agent, outside the queue, holding nobody (``offline``).
    ``details``: more attributes of the new session (the visitor's identity, the page context).
    ``admit``: the caller's checks of a new conversation, run once it is known that none is open
    (they raise to refuse it; an open one is returned whatever they would say).
    """
    for _ in rounds(OPEN_ATTEMPTS):
        # the claim and the queue counter in one consistent batch read (both are counters)
        claim_name = claims.claim_key(visitor_id)
        read = {item.name: item for item in get_all(CounterModel, [claim_name, QUEUE_COUNTER])}
        ref, existing = claims.session_of_claim(read.get(claim_name))
        if existing is not None:
            return AssignOutcome(existing, existing.agent_id, existing.agent_name, existing.assigned_at,
                                 queue.position_of(existing)), False
        if ref is not None:
            claims.release_claim(visitor_id, ref)  # it points at a closed session: only that claim goes
        if admit is not None:
            admit()
            admit = None
        now = clock.iso()
        session = SessionModel(
            f"s_{uuid.uuid4().hex}", visitor_id=visitor_id, visitor_name=visitor_name, status="queued",
            topic=topic, created_at=now, created_day=now[:10], message_count=0, transfer_count=0, version=1,
            **(details or {}),
        )
        claim = claims.new_claim(visitor_id, session.session_id)
        if visitor_sockets is None:
            visitor_sockets = connections.sockets_of(visitor_id, "visitor")
        session.visitor_sockets = set(visitor_sockets) or None
        if offline:
            if offline_waiting.create(session, claim):
                return AssignOutcome(session), True
            continue  # another start won the claim: the next round returns its session
        if queue.count_of(read.get(QUEUE_COUNTER)).length == 0:
            result, agent = matching.offer(session, claim=claim)
            if result is Attempt.DONE and agent is not None:
                logger.info("session started", session_id=session.session_id, visitor_id=visitor_id)
                after_commit("notify", notify.session_assigned, session, agent.agent_id, agent.display_name,
                             matching.owners(session, agent))
                return matching.outcome_of(session, agent), True
            if result is not Attempt.AGENT_BUSY:
                continue  # another start won the claim: the next round returns its session
        with queue.held_ticket() as ticket:
            session.queue_pool, session.queue_ticket, session.queued_at = QUEUE_POOL, ticket.number, now
            tx = Transaction()
            tx.put("claim", claim, condition=CounterModel.name.does_not_exist())
            tx.put("session", session, condition=SessionModel.session_id.does_not_exist())
            queue.add_use(tx, ticket)
            ticket.used = not tx.commit()
        if not ticket.used:
            continue  # another start won the claim (the next round returns its session), or the ticket lapsed
        logger.info("session started", session_id=session.session_id, visitor_id=visitor_id)
        return _queued(session, ticket.position), True
    raise Conflict("could not open a session right now; try again")


def _queued(session: SessionModel, position: int | None) -> AssignOutcome:
    after_commit("notify", notify.session_queued, session, position or 1)
    after_commit("dispatch", dispatch_queue)
    fresh = fetch(SessionModel, session.session_id, "session")
    if fresh.status == "active":
        return AssignOutcome(fresh, fresh.agent_id, fresh.agent_name, fresh.assigned_at)
    return AssignOutcome(fresh, position=position if fresh.status == "queued" else None)


def assign_session(session: SessionModel) -> AssignOutcome | None:
    """Give a waiting session to the best available agent (told), or None when nobody has room."""
    result, agent = matching.offer(session)
    if result is not Attempt.DONE or agent is None:
        return None
    after_commit("notify", notify.session_assigned, session, agent.agent_id, agent.display_name,
                 matching.owners(session, agent))
    return matching.outcome_of(session, agent)


def dispatch_queue(max_moves: int = MAX_DISPATCH_PER_CALL, deadline: Deadline = UNBOUNDED,
                   made_room: str | None = None) -> int:
    """Assign the oldest waiting sessions while agents have room; each moves exactly once. Stops
    at the deadline (checked before every page and every move); the next trigger carries on.
    ``made_room``: the agent whose write triggered this dispatch (see ``matching.offer``)."""
    moved = 0
    after: int | None = None
    looked_again = 0
    listed_tickets: set[int] = set()  # every ticket this walk has listed (moved, skipped or left)
    waiting: frozenset[int] | None = None  # the exact waiting tickets, read once per walk from the head
    while moved < max_moves and not deadline.passed():
        condition = SessionModel.queue_ticket > after if after is not None else None
        page = list(SessionModel.queue.query(QUEUE_POOL, condition, limit=HEAD_PAGE))
        if not page and after is None and looked_again < matching.LOOK_AGAIN and _index_may_hide_waiters():
            looked_again += 1  # customers wait whom the index does not show yet
            time.sleep(get_config().index_lag_seconds / matching.LOOK_AGAIN)
            continue
        if not page:
            break
        for listed in page:
            if deadline.passed():
                return _moved(moved, deadline)
            after = int(listed.queue_ticket)
            listed_tickets.add(after)
            session = get_or_none(SessionModel, listed.session_id)
            if session is None or session.status != "queued" or session.queue_ticket != listed.queue_ticket:
                continue  # the index is behind: already assigned or ended
            if waiting is None:
                waiting = queue.count().tickets or frozenset()
            if looked_again < matching.LOOK_AGAIN and _hidden_ahead(after, waiting, listed_tickets):
                looked_again += 1  # an earlier waiter the index does not show yet must not be passed
                time.sleep(get_config().index_lag_seconds / matching.LOOK_AGAIN)
                after, waiting = None, None  # the walk starts again from the head, lists again
                listed_tickets.clear()
                break
            result, agent = matching.offer(session, made_room=made_room)
            if result is Attempt.AGENT_BUSY:
                return _moved(moved, deadline)  # nobody has room: later waiters must not pass this one
            if result is Attempt.CUSTOMER_TAKEN:
                _end_duplicate(session)
                continue
            if result is Attempt.DONE and agent is not None:
                moved += 1
                after_commit("notify", notify.session_assigned, session, agent.agent_id, agent.display_name,
                             matching.owners(session, agent))
                if moved >= max_moves:
                    break
    return _moved(moved, deadline)


def _hidden_ahead(ticket: int, waiting: frozenset[int], listed: set[int]) -> bool:
    """A ticket before ``ticket`` waits (the counter's exact set) that the walk has not listed:
    the index has not shown that session yet (each item reaches an index at its own moment, so a
    later arrival can show while an earlier one does not)."""
    return any(t < ticket and t not in listed for t in waiting)


def _index_may_hide_waiters() -> bool:
    """The exact count says customers wait although the queue index showed none: it lags
    (a ticket issued a moment ago, or a read seconds behind)."""
    return queue.count().waiting > 0


def _moved(moved: int, deadline: Deadline) -> int:
    if moved:
        after_commit("announce", announce_positions, deadline=deadline)
    return moved


def _end_duplicate(session: SessionModel) -> None:
    """A queued session whose customer already has an agent (another open session): end it."""
    if release.finish_waiting(session, ended_by="system", reason="duplicate"):
        claims.release_claim(session.visitor_id, session.session_id)
        after_commit("notify", notify.session_ended, session, "system", "duplicate")


def announce_positions(deadline: Deadline = UNBOUNDED) -> None:
    """The queue moved: the waiters whose shown position changed are told (``announcer``: one
    announcer at a time, coalescing the moves that come while it runs). Stops at the deadline;
    the next move or the sweep tells the rest."""
    announcer.announce(deadline)


def accept_session(session_id: str, agent_id: str) -> AssignOutcome:
    """An agent picks a waiting session by hand: same capacity and atomicity as auto-assignment;
    the agent's status is checked by the transaction itself."""
    session = fetch(SessionModel, session_id, "session")
    is_offline = session.status == "offline"
    if not is_offline and (session.status != "queued" or session.queue_ticket is None):
        raise Conflict("session is not waiting for an agent")
    agent = slots.get_agent(agent_id)
    if agent.status == "offline":
        raise Conflict("set your status to online or away before accepting customers")
    if int(agent.active_count) >= int(agent.max_concurrent):
        raise CapacityFull("you are at your capacity")
    result = matching.commit(session, agent, manual=True, additive=False)
    if result is Attempt.SESSION_GONE:
        raise Conflict("session was taken by someone else")
    if result is Attempt.CUSTOMER_TAKEN:
        raise Conflict("this customer already has an agent")
    if result is Attempt.AGENT_BUSY:
        if slots.get_agent(agent_id).status == "offline":
            raise Conflict("set your status to online or away before accepting customers")
        raise CapacityFull("you are at your capacity")
    after_commit("notify", notify.session_assigned, session, agent.agent_id, agent.display_name,
                 matching.owners(session, agent))
    if is_offline:
        return matching.outcome_of(session, agent)  # the queue did not move
    if not after_commit("dispatch", dispatch_queue):  # dispatch announces when it moved someone
        after_commit("announce", announce_positions)
    return matching.outcome_of(session, agent)


def queue_offline(session: SessionModel) -> AssignOutcome | None:
    """A conversation waiting for an agent joins the queue (its visitor wrote again while someone
    can answer): placed and announced like a new one. None when it is no longer waiting offline."""
    with queue.held_ticket() as ticket:
        ticket.used = offline_waiting.enqueue(session, ticket)
    if not ticket.used:
        return None
    logger.info("offline session queued", session_id=session.session_id)
    return _queued(session, ticket.position)
