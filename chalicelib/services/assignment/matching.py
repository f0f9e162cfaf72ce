"""Matching: choosing the best available agent for a waiting session and committing the move.

Choosing reads the sparse ``available`` index (first item: least loaded, then least recently
assigned), filtered by the one definition of available, so silent agents still in the index are
skipped by the Query, which pages on past them. The index may be stale: the transaction's
conditions (the agent available with room, the session still waiting with its ticket, the
customer without an agent) are what decide.
"""

from __future__ import annotations

import random
from typing import Any

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.errors import Unavailable
from chalicelib.models import AgentModel, AssignmentModel, CounterModel, SessionModel, VisitorModel
from chalicelib.models.agent import AVAILABLE_POOL, load_key
from chalicelib.models.assignment import sweep_shard_of
from chalicelib.models.base import CONDITION_FAILED, Transaction, get_or_none, rounds
from chalicelib.models.session import next_version
from chalicelib.observability import count, logger
from chalicelib.services import activity, connections, transcript
from chalicelib.services.assignment import own_writes, queue, roster, slots
from chalicelib.services.assignment.availability import available_condition, is_available
from chalicelib.services.assignment.results import AssignOutcome, Attempt

OFFER_ROUNDS = 30
LOOK_AGAIN = 4  # how often a reader whose index disagrees with a consistent counter reads it again
VISITOR_LOOKS = 3


def candidates(exclude: set[str] | None = None) -> list[AgentModel]:
    """The best available agents, best first: one Query on the sparse index (more pages only
    when silent agents, or agents this container just filled, take the first), with this
    container's own newer writes laid over the entries that lag them (``own_writes``)."""
    page = get_config().candidate_page_size
    found: list[AgentModel] = []
    query = AgentModel.available.query(AVAILABLE_POOL, filter_condition=available_condition(),
                                       page_size=max(page, 20))
    for agent in map(own_writes.overlay, query):
        if (exclude and agent.agent_id in exclude) or not is_available(agent):
            continue
        found.append(agent)
        if len(found) >= page:
            break
    return sorted(found, key=lambda agent: agent.load_key)  # the index's order, with the overlaid keys


def attempt(session: SessionModel, agent: AgentModel, *, manual: bool, additive: bool,
            claim: CounterModel | None = None) -> Attempt:
    """Assign ``session`` to ``agent`` in one transaction (see ``slots.add_increment``), which also
    writes the activity record and the transcript's "joined" line, and holds both parties' open
    sockets as the notice will use them (the agent's as read, the visitor's as the session
    recorded them, each on the condition that it is still so), so telling them needs no read:
    ``owners`` gives them after ``DONE``. When the visitor's sockets changed, they are read and the
    transaction sent again.

    With ``claim``, the session is new: it is created already active, with the visitor's open
    session claim, in the same transaction (it never waits, so it never enters the queue).
    """
    now = clock.iso()
    visitor_sockets = set(session.visitor_sockets or ())
    for _ in range(VISITOR_LOOKS):
        failed, stored = _commit_attempt(session, agent, now, visitor_sockets, manual=manual, additive=additive,
                                         claim=claim)
        if set(failed) != {"visitor"}:
            break
        visitor_sockets = connections.sockets_of(session.visitor_id, "visitor")  # a socket opened or closed
    if failed.get("session") == CONDITION_FAILED or failed.get("claim") == CONDITION_FAILED:
        return Attempt.SESSION_GONE
    if failed.get("customer") == CONDITION_FAILED:
        return Attempt.CUSTOMER_TAKEN
    if failed:
        if "agent" in stored:
            agent.deserialize(stored["agent"])  # the agent as it stands, as DynamoDB answered the failure
        elif failed.get("agent") == CONDITION_FAILED:
            _read_again(agent)  # an additive refusal carries no item, but proves the agent has no room
        return Attempt.AGENT_BUSY
    session.status, session.agent_id, session.agent_name = "active", agent.agent_id, agent.display_name
    session.assigned_at, session.queue_pool, session.queue_ticket = now, None, None
    session.visitor_sockets = visitor_sockets or None  # as the transaction held them
    if claim is None:
        session.advanced()  # a new session was created at the version it carries
    if additive:
        fixed = slots.fix_agent_index(agent.agent_id)
        agent.socket_ids = fixed.socket_ids if fixed is not None else None  # read after the commit
        if fixed is not None:
            own_writes.remember(fixed)
    else:
        for field, value in slots.index_values(agent, int(agent.active_count) + 1, assigned_at=now).items():
            setattr(agent, field, value)
        agent.last_assigned_at = now
        own_writes.remember(agent)
    count("SessionsAssigned")
    logger.info("assigned", session_id=session.session_id, agent_id=agent.agent_id,
                customer_id=session.visitor_id)
    return Attempt.DONE


def _read_again(agent: AgentModel) -> None:
    """``agent`` as stored now (offline when it is gone), so the offer knows not to try them again."""
    fresh = get_or_none(AgentModel, agent.agent_id)
    if fresh is None:
        agent.status = "offline"
    else:
        agent.deserialize(fresh.serialize())


def _commit_attempt(session: SessionModel, agent: AgentModel, now: str, visitor_sockets: set[str], *,
                    manual: bool, additive: bool,
                    claim: CounterModel | None) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    assignment = AssignmentModel(
        session.visitor_id,
        agent_id=agent.agent_id,
        agent_name=agent.display_name,
        session_id=session.session_id,
        assigned_at=now,
        expires_at=int(clock.epoch() + get_config().assignment_ttl_seconds),
        sweep_shard=sweep_shard_of(session.visitor_id),
    )
    tx = Transaction()
    slots.add_increment(tx, agent, session.visitor_id, assigned_at=now, manual=manual, additive=additive)
    tx.put("customer", assignment, condition=AssignmentModel.customer_id.does_not_exist())
    tx.check("visitor", VisitorModel, session.visitor_id, condition=slots.sockets_are(VisitorModel, visitor_sockets))
    tx.put("activity", activity.assigned_event(session, agent.agent_id, now))
    tx.put("line", transcript.assigned_line(session.session_id, agent.agent_id, agent.display_name, now))
    if claim is not None:
        created = SessionModel(session.session_id, **{
            **session.attribute_values, "status": "active", "agent_id": agent.agent_id,
            "agent_name": agent.display_name, "assigned_at": now, "queue_pool": None, "queue_ticket": None,
            "queued_at": None, "visitor_sockets": visitor_sockets or None})
        tx.put("claim", claim, condition=CounterModel.name.does_not_exist())
        tx.put("session", created, condition=SessionModel.session_id.does_not_exist())
    elif session.status == "offline":
        # Taken by hand while waiting for an agent: it was in no queue; its visitor, long gone
        # perhaps, is not counted as leaving from now (the assignment's expiry bounds the slot).
        tx.update("session", session, actions=[*_assigned_actions(agent, now), SessionModel.visitor_left_at.remove()],
                  condition=(SessionModel.status == "offline") & session.at_version())
    else:
        tx.update(
            "session",
            session,
            actions=_assigned_actions(agent, now),
            condition=(SessionModel.status == "queued") & session.at_version() & (
                SessionModel.queue_ticket.does_not_exist() if session.queue_ticket is None
                else SessionModel.queue_ticket == session.queue_ticket),
        )
        if session.queue_ticket is not None:
            queue.add_leave(tx, session.queue_ticket)
    failed = tx.commit()  # a lost answer is retried with the same token: only our commit is {}
    return failed, tx.failed_items


def owners(session: SessionModel, agent: AgentModel) -> dict[str, Any]:
    """Both parties' items with the open sockets a ``DONE`` attempt's transaction held (the
    agent's) or read after it (additive): what ``push`` needs to tell them, without a read."""
    return {agent.agent_id: agent,
            session.visitor_id: VisitorModel(session.visitor_id, socket_ids=session.visitor_sockets)}


def _assigned_actions(agent: AgentModel, now: str) -> list:
    return [
        SessionModel.status.set("active"),
        SessionModel.agent_id.set(agent.agent_id),
        SessionModel.agent_name.set(agent.display_name),
        SessionModel.assigned_at.set(now),
        SessionModel.queue_pool.remove(),
        next_version(),
    ]


def commit(session: SessionModel, agent: AgentModel, *, manual: bool, additive: bool,
           claim: CounterModel | None = None) -> Attempt:
    """One agent: exact first; when the exact attempt met other values than it was computed from
    (an index entry behind the agent, a socket opened), exact again from the values DynamoDB
    answered, if they still leave room; additive once that loses a race too."""
    result = attempt(session, agent, manual=manual, additive=additive, claim=claim)
    if result is Attempt.AGENT_BUSY and not additive:
        if not _has_room(agent, manual):
            return result
        result = attempt(session, agent, manual=manual, additive=False, claim=claim)
        if result is Attempt.AGENT_BUSY and _has_room(agent, manual):
            result = attempt(session, agent, manual=manual, additive=True, claim=claim)
    return result


def _has_room(agent: AgentModel, manual: bool) -> bool:
    """What ``slots.add_increment``'s condition asks of the agent, on the values known of them."""
    if manual:
        return agent.status != "offline" and int(agent.active_count) < int(agent.max_concurrent)
    return is_available(agent)


def offer(session: SessionModel, claim: CounterModel | None = None,
          made_room: str | None = None) -> tuple[Attempt, AgentModel | None]:
    """Give ``session`` to the best available agent; ``AGENT_BUSY`` when nobody has room.

    Uncontended: one Query and one transaction. After a lost race the pick is random among the
    equally loaded best, so concurrent assigners spread out; a full candidate makes the index be
    read again, since every entry of a list read before the race is as stale. Assigners sharing a
    process take turns per agent instead (``own_writes.turn``).

    ``made_room``: the agent whose write just let this dispatch run (a slot freed, back online).
    When the index shows nobody, it may lag behind an agent who entered the pool a moment ago (or
    seconds ago, in a spike), so "nobody has room" is confirmed on consistent reads: that agent
    alone when one made room (every writer that puts an agent in the pool dispatches for that
    agent itself), otherwise the online roster (``confirmed_available``).
    """
    contended = False
    full: set[str] = set()  # agents the index still offers whom a refused commit showed without room
    for _ in rounds(OFFER_ROUNDS):
        found = candidates(exclude=full) or confirmed_available(made_room)
        if not found:
            return Attempt.AGENT_BUSY, None
        agent = min(found, key=own_writes.busy_key) if own_writes.taking_turns() else found[0]
        if contended:
            best = current_load_key(found[0]).split("#", 1)[0]
            agent = random.choice([a for a in found if current_load_key(a).split("#", 1)[0] == best])
        with own_writes.turn(agent.agent_id):
            own_writes.overlay(agent)  # the previous turn's write
            if not is_available(agent):
                full.add(agent.agent_id)
                continue
            result = commit(session, agent, manual=False, additive=contended, claim=claim)
        if result is not Attempt.AGENT_BUSY:
            return result, agent if result is Attempt.DONE else None
        if not is_available(agent):
            full.add(agent.agent_id)  # as stored when refused: the index lags behind them
        contended = True
    return Attempt.AGENT_BUSY, None


def confirmed_available(made_room: str | None = None) -> list[AgentModel]:
    """The available agents, best first, as stored now (never an index): ``made_room`` alone when
    given; otherwise the online roster's agents (one read when nobody is online, two for up to
    100 online; when the first batch has nobody free the next is read, and so on)."""
    if made_room is not None:
        agent = get_or_none(AgentModel, made_room)
        return [agent] if agent is not None and is_available(agent) else []
    free: list[AgentModel] = []
    try:
        for agent in roster.online_agents():
            if is_available(agent):
                free.append(agent)
            if len(free) >= get_config().candidate_page_size:
                break
    except Unavailable:
        logger.warning("online roster unreadable: the customer waits for the next dispatch")
    return sorted(free, key=current_load_key)


def current_load_key(agent: AgentModel) -> str:
    """The agent's place in the ``available`` order, from the counts as read (the stored key
    lags an additive write until ``slots.fix_agent_index``)."""
    return load_key(int(agent.active_count), int(agent.max_concurrent), agent.last_assigned_at, agent.agent_id)


def outcome_of(session: SessionModel, agent: AgentModel) -> AssignOutcome:
    return AssignOutcome(session, agent.agent_id, agent.display_name, session.assigned_at)
