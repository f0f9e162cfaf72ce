"""The agent assignment system (客服分配).

Invariants, each settled by DynamoDB conditions rather than by reading first:
- an agent never holds more customers than ``max_concurrent``: every increment is conditioned on
  the exact ``active_count`` and ``max_concurrent`` it was computed from;
- a customer never has two agents: the assignment item is keyed by customer and put with
  ``attribute_not_exists``;
- a session leaves the queue exactly once: its ``status = queued`` is the condition of the move;
- a release happens exactly once: deleting the assignment (conditioned on its agent and session)
  is in the same transaction as the decrement.

Choosing an agent reads the sparse ``available`` index, whose first item is the least-loaded
online agent with room (ties: least recently assigned). ``pool`` and ``load_key`` are rewritten in
the same transaction as the counts, so the index is always right; a candidate that lost a race is
re-read once and otherwise skipped.

Queue positions come from one atomic counter update (``issued`` and ``length`` together), so
customers arriving at the same instant are told unique, consecutive positions.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.errors import CapacityFull, Conflict, NotFound, ValidationFailed
from chalicelib.models import AgentModel, AssignmentModel, CounterModel, SessionModel
from chalicelib.models.agent import AVAILABLE_POOL, load_key
from chalicelib.models.assignment import SWEEP_SHARDS, sweep_shard_of
from chalicelib.models.base import CONDITION_FAILED, Transaction, is_condition_failure
from chalicelib.models.counter import FRONT_COUNTER, QUEUE_COUNTER
from chalicelib.models.session import QUEUE_POOL
from chalicelib.observability import count, logger
from chalicelib.services import activity, notify

MAX_DISPATCH_PER_CALL = 100
ANNOUNCE_WORKERS = 8


@dataclass
class AssignOutcome:
    """What happened to a session: assigned to ``agent`` or waiting at ``position``."""

    session: SessionModel
    agent_id: str | None = None
    agent_name: str | None = None
    assigned_at: str | None = None
    position: int | None = None

    @property
    def is_assigned(self) -> bool:
        return self.agent_id is not None


@dataclass
class SweepReport:
    expired_released: list[dict[str, Any]] = field(default_factory=list)
    counts_fixed: list[dict[str, Any]] = field(default_factory=list)
    agents_unpooled: list[str] = field(default_factory=list)
    agents_offline: list[str] = field(default_factory=list)
    sessions_abandoned: list[str] = field(default_factory=list)
    queue_length_fixed: dict[str, int] | None = None
    dispatched: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "expired_released": self.expired_released,
            "counts_fixed": self.counts_fixed,
            "agents_unpooled": self.agents_unpooled,
            "agents_offline": self.agents_offline,
            "sessions_abandoned": self.sessions_abandoned,
            "queue_length_fixed": self.queue_length_fixed,
            "dispatched": self.dispatched,
        }


# --- availability ---------------------------------------------------------------------------


def heartbeat_cutoff(at: float | None = None) -> float:
    return (clock.epoch() if at is None else at) - get_config().heartbeat_window_seconds


def is_available(agent: AgentModel, active: int | None = None, at: float | None = None, *,
                 status: str | None = None, capacity: int | None = None) -> bool:
    """Online, connected within the heartbeat window, and below capacity; ``active``, ``status``
    and ``capacity`` ask the same of the agent as an update is about to leave it."""
    active = int(agent.active_count) if active is None else active
    status = agent.status if status is None else status
    capacity = int(agent.max_concurrent) if capacity is None else capacity
    return (
        status == "online"
        and agent.disconnected_at is None
        and float(agent.heartbeat_at or 0) >= heartbeat_cutoff(at)
        and active < capacity
    )


def _pool_action(available: bool):
    return AgentModel.pool.set(AVAILABLE_POOL) if available else AgentModel.pool.remove()


def _count_actions(agent: AgentModel, new_active: int, assigned_at: str | None = None,
                   capacity: int | None = None, status: str | None = None) -> list:
    """Update actions that move ``active_count`` and keep ``pool``/``load_key`` true to it."""
    capacity = int(agent.max_concurrent) if capacity is None else capacity
    last = assigned_at or agent.last_assigned_at
    actions = [
        AgentModel.active_count.set(new_active),
        AgentModel.load_key.set(load_key(new_active, capacity, last, agent.agent_id)),
        _pool_action(is_available(agent, new_active, status=status, capacity=capacity)),
    ]
    if assigned_at:
        actions.append(AgentModel.last_assigned_at.set(assigned_at))
    return actions


def _unchanged(agent: AgentModel):
    """Condition: the counters are still what this computation read."""
    return (AgentModel.active_count == int(agent.active_count)) & (
        AgentModel.max_concurrent == int(agent.max_concurrent)
    )


def _get_agent(agent_id: str) -> AgentModel:
    try:
        return AgentModel.get(agent_id, consistent_read=True)
    except DoesNotExist as e:
        raise NotFound(f"no agent {agent_id}") from e


def candidates(exclude: set[str] | None = None) -> list[AgentModel]:
    """The best available agents, best first (one Query on the sparse index)."""
    cutoff = heartbeat_cutoff()
    page = get_config().candidate_page_size
    found = []
    for agent in AgentModel.available.query(AVAILABLE_POOL, limit=page):
        if exclude and agent.agent_id in exclude:
            continue
        if float(agent.heartbeat_at or 0) < cutoff:
            continue  # silent past the window; the presence sweep takes it out of the pool
        found.append(agent)
    return found


# --- assigning --------------------------------------------------------------------------------


def _assign_transaction(session: SessionModel, agent: AgentModel, *, manual: bool,
                        additive: bool = False) -> str | None:
    """Assign ``session`` to ``agent`` in one transaction; returns None or what failed
    (``agent``, ``customer``, ``session``).

    Exact mode writes the count, ``load_key`` and ``pool`` computed from the agent as read,
    conditioned on the count being unchanged: two calls in all when uncontended. Additive mode
    (after losing that race) only needs room: ``ADD 1`` under ``active_count < max_concurrent``,
    then ``fix_agent_index`` brings the index attributes up to date.
    """
    now = clock.iso()
    condition = AgentModel.active_count < AgentModel.max_concurrent
    if additive:
        agent_actions = [AgentModel.active_count.add(1), AgentModel.last_assigned_at.set(now)]
    else:
        condition &= _unchanged(agent)
        agent_actions = _count_actions(agent, int(agent.active_count) + 1, assigned_at=now)
    if not manual:
        condition &= (AgentModel.status == "online") & AgentModel.disconnected_at.does_not_exist() & (
            AgentModel.heartbeat_at >= heartbeat_cutoff()
        )
    expires_at = int(clock.epoch() + get_config().assignment_ttl_seconds)
    assignment = AssignmentModel(
        session.visitor_id,
        agent_id=agent.agent_id,
        agent_name=agent.display_name,
        session_id=session.session_id,
        assigned_at=now,
        expires_at=expires_at,
        sweep_shard=sweep_shard_of(session.visitor_id),
    )
    was_queued = session.queue_ticket is not None
    tx = Transaction()
    tx.update("agent", agent, actions=agent_actions, condition=condition)
    tx.put("customer", assignment, condition=AssignmentModel.customer_id.does_not_exist())
    tx.update(
        "session",
        session,
        actions=[
            SessionModel.status.set("active"),
            SessionModel.agent_id.set(agent.agent_id),
            SessionModel.agent_name.set(agent.display_name),
            SessionModel.assigned_at.set(now),
            SessionModel.queue_pool.remove(),
        ],
        condition=(SessionModel.status == "queued")
        & (SessionModel.queue_ticket.does_not_exist() if not was_queued
           else SessionModel.queue_ticket == session.queue_ticket),
    )
    if was_queued:
        tx.update("queue", CounterModel(QUEUE_COUNTER), actions=[CounterModel.length.add(-1)])
    failed = tx.commit()
    if failed:
        for what in ("session", "customer"):
            if failed.get(what) == CONDITION_FAILED:
                return what
        return "agent"  # the agent's condition, or a TransactionConflict: worth another try
    session.status, session.agent_id, session.agent_name = "active", agent.agent_id, agent.display_name
    session.assigned_at, session.queue_pool = now, None
    if additive:
        fix_agent_index(agent.agent_id)
    return None


def fix_agent_index(agent_id: str) -> None:
    """Rewrite ``load_key``/``pool`` from the agent's current counts (after an additive write).
    Conditioned on those counts, so a stale fix never lands; the writer that changed them
    afterwards runs its own fix."""
    for _ in range(3):
        agent = _get_agent(agent_id)
        desired_key = load_key(int(agent.active_count), int(agent.max_concurrent), agent.last_assigned_at,
                               agent.agent_id)
        in_pool = is_available(agent)
        if agent.load_key == desired_key and (agent.pool is not None) == in_pool:
            return
        try:
            agent.update(actions=_count_actions(agent, int(agent.active_count)),
                         condition=_unchanged(agent) & (AgentModel.status == agent.status))
        except UpdateError as e:
            if is_condition_failure(e):
                continue
            raise
        return


def _commit(session: SessionModel, agent: AgentModel, *, manual: bool, additive: bool) -> AssignOutcome | None:
    """One attempt on one agent; exact first, and additive once the exact read lost a race."""
    failed = _assign_transaction(session, agent, manual=manual, additive=additive)
    if failed == "agent" and not additive:
        failed = _assign_transaction(session, agent, manual=manual, additive=True)
    if failed is None:
        count("SessionsAssigned")
        logger.info("assigned", session_id=session.session_id, agent_id=agent.agent_id,
                    customer_id=session.visitor_id)
        return AssignOutcome(session, agent.agent_id, agent.display_name, session.assigned_at)
    if failed != "agent":
        raise _SessionTaken(failed)
    return None


def _offer(session: SessionModel, rounds: int = 30) -> AssignOutcome | None:
    """Give ``session`` to the best available agent.

    Uncontended this is one Query and one transaction. A candidate that lost a race is retried
    additively (it may still have room); if it is full, the index is read again, since every
    other entry of a list read before the race is as stale. After a lost race the pick is random
    among the equally loaded best, so concurrent assigners spread out instead of colliding.
    It gives up only when the index has nobody with room (or after ``rounds`` lost races), so a
    customer is queued only while every agent is really full.
    """
    contended = False
    for _ in range(rounds):
        found = candidates()
        if not found:
            return None
        agent = found[0]
        if contended:
            best_ratio = found[0].load_key.split("#", 1)[0]
            agent = random.choice([a for a in found if a.load_key.split("#", 1)[0] == best_ratio])
        outcome = _commit(session, agent, manual=False, additive=contended)
        if outcome is not None:
            return outcome
        contended = True
    return None


class _SessionTaken(Exception):
    """The session or customer was assigned by someone else meanwhile."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def assign_session(session: SessionModel) -> AssignOutcome | None:
    """Give a waiting session to the best available agent, or None when nobody has room."""
    try:
        outcome = _offer(session)
    except _SessionTaken:
        return None
    if outcome is not None:
        notify.session_assigned(session, outcome.agent_id, outcome.agent_name)
    return outcome


FRONT_TICKET_BASE = -(10**15)


def enqueue(session: SessionModel, front: bool = False) -> int:
    """Put a session in the queue; returns the position it was given.

    One atomic ``ADD issued 1, length 1`` yields both the ticket (order) and the queue length at
    that instant, which is the newcomer's position: customers arriving together are told unique,
    consecutive positions. ``front`` queues ahead of every newcomer (a customer whose agent went
    offline mid-conversation); front tickets come from their own counter, below all others.
    """
    counter = CounterModel(QUEUE_COUNTER)
    if front:
        front_counter = CounterModel(FRONT_COUNTER)
        front_counter.update(actions=[CounterModel.issued.add(1)])  # the instance gets ALL_NEW
        ticket = FRONT_TICKET_BASE + int(front_counter.issued)
        counter.update(actions=[CounterModel.length.add(1)])
        position = None
    else:
        counter.update(actions=[CounterModel.issued.add(1), CounterModel.length.add(1)])
        ticket, position = int(counter.issued), int(counter.length)
    try:
        session.update(
            actions=[
                SessionModel.queue_pool.set(QUEUE_POOL),
                SessionModel.queue_ticket.set(ticket),
                SessionModel.queued_at.set(session.queued_at or clock.iso()),
            ],
            condition=(SessionModel.status == "queued") & SessionModel.queue_ticket.does_not_exist(),
        )
    except UpdateError as e:
        CounterModel(QUEUE_COUNTER).update(actions=[CounterModel.length.add(-1)])
        if is_condition_failure(e):
            raise Conflict("session is no longer waiting") from e
        raise
    return position if position is not None else (position_of(session) or 1)


def queue_length() -> int:
    try:
        return max(0, int(CounterModel.get(QUEUE_COUNTER, consistent_read=True).length or 0))
    except DoesNotExist:
        return 0


def waiting_sessions(limit: int | None = None) -> list[SessionModel]:
    """Queued sessions, oldest ticket first."""
    return list(SessionModel.queue.query(QUEUE_POOL, limit=limit))


def position_of(session: SessionModel) -> int | None:
    if session.queue_ticket is None or session.status != "queued":
        return None
    count = SessionModel.queue.count(QUEUE_POOL, SessionModel.queue_ticket <= session.queue_ticket)
    return max(1, count)


def place_new_session(session: SessionModel) -> AssignOutcome:
    """A new session: straight to an agent when nobody waits and someone has room, else queued.

    Enqueue-then-dispatch closes the gap where a slot opens between "nobody has room" and
    "queued": whoever writes second sees the other's write.
    """
    if queue_length() == 0:
        outcome = assign_session(session)
        if outcome is not None:
            return outcome
    position = enqueue(session)
    notify.session_queued(session, position)
    dispatch_queue()
    fresh = SessionModel.fetch(session.session_id)
    if fresh.status == "active":
        return AssignOutcome(fresh, fresh.agent_id, fresh.agent_name, fresh.assigned_at)
    return AssignOutcome(fresh, position=position)


def dispatch_queue(max_moves: int = MAX_DISPATCH_PER_CALL) -> int:
    """Assign the oldest waiting sessions while agents have room; each moves exactly once.

    Called after every write that can open a slot or add a waiter. When another caller takes
    the head first, this one stops: that caller keeps dispatching from there, so one of the two
    always sees both writes, and many concurrent callers do not all fight over every head.
    """
    moved = 0
    while moved < max_moves:
        head = waiting_sessions(limit=1)
        if not head:
            break
        session = head[0]
        try:
            outcome = _offer(session)
        except _SessionTaken as taken:
            if taken.what == "customer":
                _repair_orphan_waiting(session)
                continue
            if SessionModel.fetch(session.session_id).status == "active":
                break  # another dispatcher took it and carries on
            continue  # it left the queue (ended): look at the new head
        if outcome is None:
            break  # nobody has room
        moved += 1
        notify.session_assigned(session, outcome.agent_id, outcome.agent_name)
    if moved:
        announce_positions()
    return moved


def _repair_orphan_waiting(session: SessionModel) -> None:
    """A queued session whose customer already has an agent (another open session): end it."""
    _finish_unassigned(session, ended_by="system", reason="duplicate")


def announce_positions() -> None:
    """Tell every waiting customer their position (after the queue moved). The pushes are
    independent network calls, so they go out in parallel."""
    waiting = waiting_sessions()
    if not waiting:
        return
    with ThreadPoolExecutor(max_workers=min(ANNOUNCE_WORKERS, len(waiting))) as pool:
        list(pool.map(lambda item: notify.session_queued(item[1], item[0]), enumerate(waiting, start=1)))


def accept_session(session_id: str, agent_id: str) -> AssignOutcome:
    """An agent picks a waiting session by hand: same capacity and atomicity as auto-assignment."""
    session = SessionModel.fetch(session_id)
    if session.status != "queued":
        raise Conflict("session is not waiting for an agent")
    agent = _get_agent(agent_id)
    if agent.status == "offline":
        raise Conflict("set your status to online or away before accepting customers")
    if int(agent.active_count) >= int(agent.max_concurrent):
        raise CapacityFull("you are at your capacity")
    try:
        outcome = _commit(session, agent, manual=True, additive=False)
    except _SessionTaken as e:
        raise Conflict("session was taken by someone else" if e.what == "session"
                       else "this customer already has an agent") from e
    if outcome is None:
        raise CapacityFull("you are at your capacity")
    notify.session_assigned(session, outcome.agent_id, outcome.agent_name)
    announce_positions()
    dispatch_queue()  # a dispatcher that lost this head to us stopped; carry on for it
    return outcome


# --- releasing ------------------------------------------------------------------------------------


def get_assignment(customer_id: str) -> AssignmentModel | None:
    try:
        assignment = AssignmentModel.get(customer_id, consistent_read=True)
    except DoesNotExist:
        return None
    return assignment


def _release_transaction(assignment: AssignmentModel, session_actions: list | None,
                         expired_before: int | None = None) -> bool:
    """Delete the assignment, decrement its agent and update the session, all or nothing.
    Returns False when the assignment was already gone (someone else released it).

    Exact first (count, ``load_key`` and ``pool`` from one read); after losing a race on the
    agent, additive (``ADD -1`` while above zero) and ``fix_agent_index``.
    """
    additive = False
    for _ in range(10):
        agent = _get_agent(assignment.agent_id)
        if additive:
            agent_actions = [AgentModel.active_count.add(-1)]
            agent_condition = AgentModel.active_count > 0
        else:
            agent_actions = _count_actions(agent, max(0, int(agent.active_count) - 1))
            agent_condition = _unchanged(agent)
        tx = Transaction()
        assignment_condition = (AssignmentModel.agent_id == assignment.agent_id) & (
            AssignmentModel.session_id == assignment.session_id)
        if expired_before is not None:
            # An expiry must not win over a message that just extended the assignment.
            assignment_condition &= AssignmentModel.expires_at < expired_before
        tx.delete("assignment", assignment, condition=assignment_condition)
        tx.update("agent", agent, actions=agent_actions, condition=agent_condition)
        if session_actions:
            condition = (SessionModel.agent_id == assignment.agent_id) & (SessionModel.status == "active")
            tx.update("session", SessionModel(assignment.session_id), actions=session_actions,
                      condition=condition)
        failed = tx.commit()
        if failed.get("assignment") == CONDITION_FAILED:
            return False
        if failed.get("session") == CONDITION_FAILED:
            # The session moved on by another path; still free the slot exactly once.
            session_actions = None
            continue
        if failed.get("agent") == CONDITION_FAILED:
            additive = not additive  # contended: ADD; a count already at zero: exact again
            continue
        if failed:
            continue  # TransactionConflict: try again
        if additive:
            fix_agent_index(assignment.agent_id)
        return True
    raise Conflict("agent counters are too busy; try again")


def _end_actions(ended_by: str, reason: str, status: str = "ended") -> list:
    return [
        SessionModel.status.set(status),
        SessionModel.ended_at.set(clock.iso()),
        SessionModel.ended_by.set(ended_by),
        SessionModel.end_reason.set(reason),
        SessionModel.queue_pool.remove(),
    ]


def release_customer(customer_id: str, ended_by: str, reason: str = "released") -> AssignmentModel:
    """Free the customer's agent and end their conversation; 404 when they have no agent."""
    assignment = get_assignment(customer_id)
    if assignment is None:
        raise NotFound(f"customer {customer_id} has no agent")
    if not _release_transaction(assignment, _end_actions(ended_by, reason)):
        raise NotFound(f"customer {customer_id} has no agent")
    _after_end(assignment.session_id, ended_by, reason, assignment.agent_id)
    return assignment


def _after_end(session_id: str, ended_by: str, reason: str, agent_id: str | None) -> None:
    session = SessionModel.fetch(session_id)
    _release_open_session_claim(session)
    notify.session_ended(session, ended_by, reason, agent_id)
    dispatch_queue()


def _release_open_session_claim(session: SessionModel) -> None:
    from chalicelib.services import chat

    chat.release_open_claim(session)


def end_session(session: SessionModel, ended_by: str, reason: str = "ended") -> SessionModel:
    """End an open session: a waiting one leaves the queue, an active one frees its agent."""
    if session.status == "queued":
        if not _finish_unassigned(session, ended_by, reason):
            session = SessionModel.fetch(session.session_id)
            if session.status == "active":
                return end_session(session, ended_by, reason)
            raise Conflict("session already ended")
        announce_positions()
        return SessionModel.fetch(session.session_id)
    if session.status != "active":
        raise Conflict("session already ended")
    assignment = get_assignment(session.visitor_id)
    if assignment is None or assignment.session_id != session.session_id:
        # Only a crash between writes can leave this; end it and let cleanup fix the counts.
        session.update(actions=_end_actions(ended_by, reason), condition=SessionModel.status == "active")
    elif not _release_transaction(assignment, _end_actions(ended_by, reason)):
        raise Conflict("session already ended")
    _after_end(session.session_id, ended_by, reason, session.agent_id)
    return SessionModel.fetch(session.session_id)


def _finish_unassigned(session: SessionModel, ended_by: str, reason: str,
                       status: str = "ended") -> bool:
    """End a session that is still waiting (never assigned); leaves the queue exactly once."""
    condition = (SessionModel.status == "queued")
    if session.queue_ticket is not None:
        condition &= SessionModel.queue_ticket == session.queue_ticket
    else:
        condition &= SessionModel.queue_ticket.does_not_exist()
    for _ in range(5):
        tx = Transaction()
        tx.update("session", session, actions=_end_actions(ended_by, reason, status), condition=condition)
        if session.queue_ticket is not None:
            tx.update("queue", CounterModel(QUEUE_COUNTER), actions=[CounterModel.length.add(-1)])
        failed = tx.commit()
        if failed.get("session") == CONDITION_FAILED:
            return False
        if not failed:
            break
    else:
        raise Conflict("the queue is too busy; try again")
    fresh = SessionModel.fetch(session.session_id)
    _release_open_session_claim(fresh)
    notify.session_ended(fresh, ended_by, reason)
    return True


# --- transfer -------------------------------------------------------------------------------------


def transfer(session_id: str, to_agent_id: str | None, by_user: str) -> AssignOutcome:
    """Move an active session to another agent with room, atomically; everyone is told."""
    session = SessionModel.fetch(session_id)
    if session.status != "active" or not session.agent_id:
        raise Conflict("only an active session can be transferred")
    assignment = get_assignment(session.visitor_id)
    if assignment is None or assignment.session_id != session_id:
        raise Conflict("session has no current assignment")
    if to_agent_id == session.agent_id:
        raise ValidationFailed("the session is already with that agent")
    for _ in range(5):
        if to_agent_id:
            target = _get_agent(to_agent_id)
            if not is_available(target):
                if int(target.active_count) >= int(target.max_concurrent):
                    raise CapacityFull("that agent has no free slot")
                raise Conflict("that agent is not online")
            targets = [target]
        else:
            targets = candidates(exclude={session.agent_id})
            if not targets:
                raise CapacityFull("no other agent has a free slot")
        for target in targets:
            result = _transfer_transaction(session, assignment, target)
            if result == "done":
                notify.session_transferred(session, (assignment.agent_id, assignment.agent_name),
                                           (target.agent_id, target.display_name))
                logger.info("transferred", session_id=session_id, from_agent=assignment.agent_id,
                            to_agent=target.agent_id, by=by_user)
                fresh = SessionModel.fetch(session_id)
                return AssignOutcome(fresh, target.agent_id, target.display_name, fresh.assigned_at)
            if result == "moved":
                raise Conflict("session changed while transferring; reload it")
    raise Conflict("could not transfer: agents changed meanwhile; try again")


def _transfer_transaction(session: SessionModel, assignment: AssignmentModel, target: AgentModel) -> str:
    source = _get_agent(assignment.agent_id)
    now = clock.iso()
    tx = Transaction()
    tx.update("source", source, actions=_count_actions(source, max(0, int(source.active_count) - 1)),
              condition=_unchanged(source))
    tx.update(
        "target",
        target,
        actions=_count_actions(target, int(target.active_count) + 1, assigned_at=now),
        condition=_unchanged(target) & (AgentModel.active_count < AgentModel.max_concurrent)
        & (AgentModel.status == "online") & (AgentModel.heartbeat_at >= heartbeat_cutoff()),
    )
    tx.update(
        "assignment",
        assignment,
        actions=[AssignmentModel.agent_id.set(target.agent_id),
                 AssignmentModel.agent_name.set(target.display_name),
                 AssignmentModel.assigned_at.set(now)],
        condition=(AssignmentModel.agent_id == source.agent_id)
        & (AssignmentModel.session_id == session.session_id),
    )
    tx.update(
        "session",
        session,
        actions=[SessionModel.agent_id.set(target.agent_id),
                 SessionModel.agent_name.set(target.display_name),
                 SessionModel.transfer_count.add(1)],
        condition=(SessionModel.agent_id == source.agent_id) & (SessionModel.status == "active"),
    )
    failed = tx.commit()
    if not failed:
        return "done"
    if failed.get("assignment") == CONDITION_FAILED or failed.get("session") == CONDITION_FAILED:
        return "moved"
    return "retry"


# --- status, capacity and presence --------------------------------------------------------------


def _update_agent(agent_id: str, build, attempts: int = 10) -> AgentModel:
    """Read-compute-write an agent under the ``_unchanged`` condition, retrying lost races."""
    for _ in range(attempts):
        agent = _get_agent(agent_id)
        actions = build(agent)
        try:
            agent.update(actions=actions, condition=_unchanged(agent))
        except UpdateError as e:
            if is_condition_failure(e):
                continue
            raise
        return agent
    raise Conflict("agent is changing too fast; try again")


def set_status(agent_id: str, status: str) -> AgentModel:
    """online / away / offline. Going offline hands this agent's customers to others."""
    if status not in ("online", "away", "offline"):
        raise ValidationFailed("status must be online, away or offline")

    def build(agent: AgentModel) -> list:
        return [AgentModel.status.set(status), AgentModel.updated_at.set(clock.iso()),
                *_count_actions(agent, int(agent.active_count), status=status)]

    agent = _update_agent(agent_id, build)
    activity.agent_status_changed(agent_id, status)
    if status == "offline":
        requeue_agent_sessions(agent_id)
    dispatch_queue()
    return agent


def set_capacity(agent_id: str, capacity: int) -> AgentModel:
    """Change ``max_concurrent``; lowering it below the current load takes effect as chats end."""
    if capacity < 0 or capacity > 1000:
        raise ValidationFailed("max_concurrent must be between 0 and 1000")

    def build(agent: AgentModel) -> list:
        return [AgentModel.max_concurrent.set(capacity), AgentModel.updated_at.set(clock.iso()),
                *_count_actions(agent, int(agent.active_count), capacity=capacity)]

    agent = _update_agent(agent_id, build)
    dispatch_queue()
    return agent


def agent_heartbeat(agent_id: str) -> None:
    """A frame from one of the agent's sockets: alive; back in the pool if otherwise eligible."""
    agent = AgentModel(agent_id)
    try:
        agent.update(  # returns the whole item (ALL_NEW): no second read
            actions=[AgentModel.heartbeat_at.set(clock.epoch()), AgentModel.disconnected_at.remove()],
            condition=AgentModel.agent_id.exists(),
        )
    except UpdateError as e:
        if is_condition_failure(e):
            return
        raise
    if not is_available(agent):
        return
    if agent.pool is None:
        refresh_pool(agent_id)
    if queue_length() > 0:
        # Available with customers waiting: either newly back in the pool, or back from a silence
        # during which dispatchers skipped this agent as stale.
        dispatch_queue()


def refresh_pool(agent_id: str) -> AgentModel:
    return _update_agent(agent_id, lambda a: _count_actions(a, int(a.active_count)))


def agent_disconnected(agent_id: str) -> None:
    """The agent's last socket closed: no new customers now; offline after the grace period."""
    now = clock.epoch()

    def build(agent: AgentModel) -> list:
        return [AgentModel.disconnected_at.set(now), AgentModel.pool.remove()]

    try:
        _update_agent(agent_id, build)
    except NotFound:
        logger.info("disconnect of an agent that no longer exists", agent_id=agent_id)


def requeue_agent_sessions(agent_id: str) -> int:
    """Release every customer of an agent who left for good; they wait at the front of the queue."""
    moved = 0
    for assignment in AssignmentModel.by_agent.query(agent_id):
        fresh = get_assignment(assignment.customer_id)
        if fresh is None or fresh.agent_id != agent_id:
            continue
        requeue_actions = [
            SessionModel.status.set("queued"),
            SessionModel.agent_id.remove(),
            SessionModel.agent_name.remove(),
            SessionModel.queue_ticket.remove(),
        ]
        if _release_transaction(fresh, requeue_actions):
            session = SessionModel.fetch(fresh.session_id)
            position = enqueue(session, front=True)
            notify.session_requeued(SessionModel.fetch(fresh.session_id), agent_id, position)
            moved += 1
    if moved:
        announce_positions()
    return moved


# --- sweeps -------------------------------------------------------------------------------------


def release_expired(report: SweepReport, limit: int = 500) -> None:
    """Assignments idle past ``KEFU_ASSIGNMENT_TTL``: end the session and free the agent."""
    now = int(clock.epoch())
    for shard in range(SWEEP_SHARDS):
        for item in AssignmentModel.by_expiry.query(f"s{shard}", AssignmentModel.expires_at < now,
                                                     limit=limit):
            fresh = get_assignment(item.customer_id)
            if fresh is None or fresh.expires_at >= now:
                continue
            if _release_transaction(fresh, _end_actions("system", "timeout"), expired_before=now):
                _after_end(fresh.session_id, "system", "timeout", fresh.agent_id)
                report.expired_released.append({"customer_id": fresh.customer_id,
                                                "agent_id": fresh.agent_id,
                                                "session_id": fresh.session_id})


def reconcile_counts(report: SweepReport) -> None:
    """Make every agent's ``active_count`` equal their real assignments (self-healing)."""
    for listed in AgentModel.in_directory.query("agents"):
        before = _get_agent(listed.agent_id)
        real = sum(1 for a in AssignmentModel.by_agent.query(listed.agent_id)
                   if (get_assignment(a.customer_id) or a).agent_id == listed.agent_id)
        agent = _get_agent(listed.agent_id)
        if int(agent.active_count) != int(before.active_count):
            continue  # moving right now: leave it to the next sweep
        if int(agent.active_count) == real and (agent.pool is not None) == is_available(agent):
            continue
        try:
            agent.update(actions=_count_actions(agent, real), condition=_unchanged(agent))
        except UpdateError as e:
            if is_condition_failure(e):
                continue
            raise
        if int(before.active_count) != real:
            report.counts_fixed.append({"agent_id": agent.agent_id, "was": int(before.active_count),
                                        "now": real})


def sweep_presence(report: SweepReport) -> None:
    """Agents silent past the heartbeat window leave the pool; gone past the grace period, go
    offline and hand their customers back to the queue."""
    config = get_config()
    now = clock.epoch()
    cutoff = now - config.heartbeat_window_seconds
    for agent in AgentModel.in_directory.query("agents"):
        if agent.status == "offline":
            continue
        silent_since = agent.disconnected_at if agent.disconnected_at is not None else (
            float(agent.heartbeat_at or 0) + config.heartbeat_window_seconds)
        if agent.pool is not None and float(agent.heartbeat_at or 0) < cutoff:
            refresh_pool(agent.agent_id)
            report.agents_unpooled.append(agent.agent_id)
        if now - silent_since > config.presence_grace_seconds and float(agent.heartbeat_at or 0) < cutoff:
            from chalicelib.services import connections

            if connections.live_connections(agent.agent_id):
                continue
            set_status(agent.agent_id, "offline")
            report.agents_offline.append(agent.agent_id)


def sweep_abandoned(report: SweepReport) -> None:
    """Waiting customers who left (no live socket past the grace period) leave the queue."""
    from chalicelib.models import ConnectionModel

    config = get_config()
    now = clock.epoch()
    for session in waiting_sessions():
        records = list(ConnectionModel.for_user(session.visitor_id))
        if any(r.is_live(config.heartbeat_window_seconds, now) for r in records):
            continue
        last_presence = max([r.last_seen_at + config.heartbeat_window_seconds for r in records]
                            + [clock.epoch_of(session.queued_at or session.created_at)]
                            + [float(session.visitor_left_at or 0)])
        if now - last_presence > config.presence_grace_seconds:
            if _finish_unassigned(session, "system", "abandoned", status="abandoned"):
                report.sessions_abandoned.append(session.session_id)
    if report.sessions_abandoned:
        announce_positions()


def reconcile_queue_length(report: SweepReport) -> None:
    real = SessionModel.queue.count(QUEUE_POOL)
    try:
        counter = CounterModel.get(QUEUE_COUNTER, consistent_read=True)
    except DoesNotExist:
        return
    if int(counter.length or 0) != real:
        try:
            counter.update(actions=[CounterModel.length.set(real)],
                           condition=CounterModel.length == int(counter.length or 0))
        except UpdateError as e:
            if not is_condition_failure(e):
                raise
            return
        report.queue_length_fixed = {"was": int(counter.length or 0), "now": real}


def cleanup() -> SweepReport:
    """The whole sweep: expiry, presence, abandoned customers, counts, queue; then dispatch."""
    report = SweepReport()
    release_expired(report)
    sweep_presence(report)
    sweep_abandoned(report)
    reconcile_counts(report)
    reconcile_queue_length(report)
    report.dispatched = dispatch_queue()
    logger.info("cleanup", **{k: (len(v) if isinstance(v, list) else v)
                              for k, v in report.to_dict().items()})
    return report


def agents_overview() -> list[dict[str, Any]]:
    return [
        {
            "agent_id": a.agent_id,
            "display_name": a.display_name,
            "status": a.status,
            "is_available": is_available(a),
            "active": int(a.active_count),
            "max_concurrent": int(a.max_concurrent),
            "last_assigned_at": a.last_assigned_at,
        }
        for a in AgentModel.in_directory.query("agents")
    ]


def touch_assignment(customer_id: str, session_id: str) -> None:
    """Activity in a session pushes its assignment's expiry out by ``KEFU_ASSIGNMENT_TTL``."""
    expires_at = int(clock.epoch() + get_config().assignment_ttl_seconds)
    try:
        AssignmentModel(customer_id).update(
            actions=[AssignmentModel.expires_at.set(expires_at)],
            condition=AssignmentModel.session_id == session_id,
        )
    except UpdateError as e:
        if not is_condition_failure(e):
            raise


def queue_view() -> list[dict[str, Any]]:
    """The waiting customers, oldest first, with how long each has waited."""
    now = clock.epoch()
    view = []
    for position, session in enumerate(waiting_sessions(), start=1):
        since = session.queued_at or session.created_at
        view.append({
            "session_id": session.session_id,
            "customer_id": session.visitor_id,
            "customer_name": session.visitor_name,
            "position": position,
            "waiting_since": since,
            "wait_seconds": round(max(0.0, now - clock.epoch_of(since)), 3),
        })
    return view
