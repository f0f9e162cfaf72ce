"""Agent slots: the only writer of ``active_count``, ``pool`` and ``load_key`` (and of the status
and capacity they are computed from).

``pool`` and ``load_key`` are derived from the count, the capacity, the status and the presence
fields. Every write that sets them from a read is conditioned on those fields being what was
read (``pinned``), so a writer that computed ``pool`` from an older read can never put a
disconnected or offline agent back in the pool; putting an agent *in* the pool also requires a
live heartbeat on the stored item. Additive writes (``ADD`` under a condition, used after losing
a race) are followed by ``fix_agent_index``. A status write into, out of or again to ``online``
also writes the roster of online agents, in the same transaction (``roster``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.errors import Conflict
from chalicelib.models import AgentModel
from chalicelib.models.agent import AVAILABLE_POOL, load_key
from chalicelib.models.base import Transaction, conditional, fetch, rounds, stored_as
from chalicelib.services.assignment import roster
from chalicelib.services.assignment.availability import (
    available_condition,
    heard_since,
    is_available,
    live_condition,
    unheard_condition,
)
from chalicelib.services.connections import holding, room_for

UPDATE_ATTEMPTS = 10
FIX_ATTEMPTS = 3
DISCONNECTED = "disconnected"  # ``offline_reason`` of an agent set away when their last socket closed


def get_agent(agent_id: str) -> AgentModel:
    """The agent as stored now; ``NotFound`` when there is none."""
    return fetch(AgentModel, agent_id, "agent")


def pinned(agent: AgentModel):
    """Condition: everything ``pool``/``load_key`` are computed from is still what was read."""
    condition = (AgentModel.active_count == int(agent.active_count)) & (
        AgentModel.max_concurrent == int(agent.max_concurrent)) & (AgentModel.status == agent.status)
    if agent.disconnected_at is None:
        return condition & AgentModel.disconnected_at.does_not_exist()
    return condition & (AgentModel.disconnected_at == agent.disconnected_at)


def index_values(agent: AgentModel, new_active: int, *, assigned_at: str | None = None,
                 capacity: int | None = None, status: str | None = None) -> dict[str, Any]:
    """What ``active_count``, ``load_key`` and ``pool`` become when the count moves to
    ``new_active`` (with ``capacity`` and ``status``, when those change too)."""
    capacity = int(agent.max_concurrent) if capacity is None else capacity
    last = assigned_at or agent.last_assigned_at
    in_pool = is_available(agent, new_active, status=status, capacity=capacity)
    return {"active_count": new_active, "load_key": load_key(new_active, capacity, last, agent.agent_id),
            "pool": AVAILABLE_POOL if in_pool else None}


def index_actions(agent: AgentModel, new_active: int, *, assigned_at: str | None = None,
                  capacity: int | None = None, status: str | None = None) -> tuple[list, bool]:
    """Update actions that move ``active_count`` and keep ``pool``/``load_key`` true to it; and
    whether they put the agent in the pool (the write must then also hold ``available``)."""
    values = index_values(agent, new_active, assigned_at=assigned_at, capacity=capacity, status=status)
    in_pool = values["pool"] is not None
    actions = [
        AgentModel.active_count.set(new_active),
        AgentModel.load_key.set(values["load_key"]),
        AgentModel.pool.set(AVAILABLE_POOL) if in_pool else AgentModel.pool.remove(),
    ]
    if assigned_at:
        actions.append(AgentModel.last_assigned_at.set(assigned_at))
    return actions, in_pool


def _guarded(agent: AgentModel, in_pool: bool):
    condition = pinned(agent)
    return condition & live_condition() if in_pool else condition


def update_agent(agent_id: str, build: Callable[[AgentModel], list],
                 status: str | None = None, capacity: int | None = None,
                 unheard_since: float | None = None, only_if: tuple[Callable[[AgentModel], bool], Any] | None = None
                 ) -> AgentModel | None:
    """Read, compute (``build`` gives the extra actions) and write an agent with its index
    attributes, under ``pinned``; retries lost races. Returns the agent as written. A retry after
    a lost answer recognises its own write by the status, capacity and index values it wrote.
    ``unheard_since``: only while no frame came since then (a frame landing between the read and
    the write wins); None when one did. ``only_if``: (a test of the agent as read, the same test
    as a condition on the stored item): only while it holds; None when it does not."""
    for _ in rounds(UPDATE_ATTEMPTS):
        agent = get_agent(agent_id)
        if unheard_since is not None and heard_since(agent, unheard_since):
            return None
        if only_if is not None and not only_if[0](agent):
            return None
        actions, in_pool = index_actions(agent, int(agent.active_count), status=status, capacity=capacity)
        actions = [*build(agent), *actions]
        condition = _guarded(agent, in_pool)
        if unheard_since is not None:
            condition &= unheard_condition(unheard_since)
        if only_if is not None:
            condition &= only_if[1]
        written = {**index_values(agent, int(agent.active_count), status=status, capacity=capacity),
                   "status": status or agent.status,
                   "max_concurrent": int(agent.max_concurrent) if capacity is None else capacity}
        found: list[AgentModel] = []

        def ours(expected: dict[str, Any] = written, found: list[AgentModel] = found) -> bool:
            stored = stored_as(AgentModel, agent_id, expected)
            if stored is not None:
                found.append(stored)
            return stored is not None

        if status is not None and roster.writes_roster(agent.status, status):
            if not _write_with_roster(agent, actions, condition, status):
                continue
            return get_agent(agent_id)
        if conditional(lambda a=agent, x=actions, c=condition: a.update(actions=x, condition=c), already_done=ours):
            return found[0] if found else agent  # else PynamoDB refreshed it from the ALL_NEW response
    raise Conflict("agent is changing too fast; try again")


def _write_with_roster(agent: AgentModel, actions: list, condition: Any, status: str) -> bool:
    """A status write into or out of ``online``, with the roster in the same transaction (its
    token makes a retry after a lost answer meet its own success). False when the agent changed
    since it was read."""
    tx = Transaction()
    tx.update("agent", agent, actions=actions, condition=condition)
    roster.add_membership(tx, agent.agent_id, status)
    return not tx.commit()


def assigned_recently(agent: AgentModel, window: float) -> bool:
    """The agent's last assignment is younger than ``window``: an index of assignments (which
    lags) may not show it yet."""
    return agent.last_assigned_at is not None and \
        clock.epoch() - clock.epoch_of(agent.last_assigned_at) < window


def refresh_pool(agent_id: str) -> AgentModel:
    """Bring ``pool``/``load_key`` up to date with the stored agent."""
    return update_agent(agent_id, lambda agent: [])


def fix_agent_index(agent_id: str) -> AgentModel | None:
    """Rewrite ``load_key``/``pool`` from the agent's current counts (after an additive write).
    Conditioned on those counts, so a stale fix never lands; the writer that changed them
    afterwards runs its own fix. Returns the agent as last read (consistently)."""
    agent = None
    for _ in rounds(FIX_ATTEMPTS):
        agent = get_agent(agent_id)
        desired = load_key(int(agent.active_count), int(agent.max_concurrent), agent.last_assigned_at,
                           agent.agent_id)
        if agent.load_key == desired and (agent.pool is not None) == is_available(agent):
            return agent
        actions, in_pool = index_actions(agent, int(agent.active_count))
        condition = _guarded(agent, in_pool)
        if conditional(lambda a=agent, x=actions, c=condition: a.update(actions=x, condition=c)):
            return agent
    return agent


def sockets_are(model: Any, sockets: Any):
    """Condition: the owner's set of open sockets is exactly ``sockets`` (none: no set)."""
    return model.socket_ids == set(sockets) if sockets else model.socket_ids.does_not_exist()


def add_increment(tx: Transaction, agent: AgentModel, customer_id: str, *, assigned_at: str, manual: bool,
                  additive: bool) -> None:
    """Add "one more customer for ``agent``" to ``tx``.

    Exact mode writes the count and index attributes computed from the agent as read, under
    ``pinned``, and on the condition that their open sockets are the ones read, so the notice can
    go to exactly those without reading them again. Additive mode (after losing that race) only
    needs room: ``ADD 1`` under ``active_count < max_concurrent``; ``fix_agent_index`` follows the
    commit (and reads the sockets). Auto-assignment (not ``manual``) also requires the agent to be
    available on the stored item. ``customer_id``
    joins the agent's ``customer_ids`` in the same write.
    """
    condition = AgentModel.active_count < AgentModel.max_concurrent
    if additive:
        actions = [AgentModel.active_count.add(1), AgentModel.last_assigned_at.set(assigned_at)]
    else:
        actions, _ = index_actions(agent, int(agent.active_count) + 1, assigned_at=assigned_at)
        condition &= pinned(agent) & sockets_are(AgentModel, agent.socket_ids)
    if manual:
        condition &= AgentModel.status != "offline"
    else:
        condition &= available_condition()
    tx.update("agent", agent, actions=[*actions, AgentModel.customer_ids.add({customer_id})], condition=condition,
              answer_failure=not additive)


def add_decrement(tx: Transaction, agent: AgentModel, customer_id: str, *, additive: bool,
                  name: str = "agent") -> None:
    """Add "``customer_id`` no longer counts for ``agent``" to ``tx``; never below zero."""
    leaves = AgentModel.customer_ids.delete({customer_id})
    if additive:
        tx.update(name, agent, actions=[AgentModel.active_count.add(-1), leaves],
                  condition=AgentModel.active_count > 0)
        return  # fix_agent_index follows the commit
    actions, in_pool = index_actions(agent, max(0, int(agent.active_count) - 1))
    tx.update(name, agent, actions=[*actions, leaves], condition=_guarded(agent, in_pool))


def add_transfer_target(tx: Transaction, target: AgentModel, customer_id: str, assigned_at: str) -> None:
    """Add "one more customer (``customer_id``) for the transfer target" to ``tx``: exact, and the
    target must be available (online, live, room) on the stored item."""
    actions, _ = index_actions(target, int(target.active_count) + 1, assigned_at=assigned_at)
    tx.update("target", target, actions=[*actions, AgentModel.customer_ids.add({customer_id})],
              condition=pinned(target) & available_condition())


def set_count(agent: AgentModel, real: int) -> bool:
    """Set the count to ``real`` (reconciliation) if the agent is still as read."""
    actions, in_pool = index_actions(agent, real)
    condition = _guarded(agent, in_pool)
    written = index_values(agent, real)
    return conditional(lambda: agent.update(actions=actions, condition=condition),
                       already_done=lambda: stored_as(AgentModel, agent.agent_id, written) is not None)


def heartbeat_actions(connection_id: str | None = None) -> list:
    """A frame from one of the agent's sockets: alive (the heartbeat before it kept beside it, so
    the write's answer says whether the agent was silent), and that socket back on their set of
    open sockets (idempotent: whatever judged it closed while it slept, it is open). The frame's
    own write (``senders.count_frame``) carries these actions with the rate limit's."""
    actions = [AgentModel.heartbeat_prev.set(AgentModel.heartbeat_at | 0), AgentModel.heartbeat_at.set(clock.epoch()),
               AgentModel.disconnected_at.remove()]
    if connection_id:
        actions.append(AgentModel.socket_ids.add({connection_id}))
    return actions


def record_heartbeat(agent_id: str, connection_id: str | None = None) -> AgentModel | None:
    """``heartbeat_actions`` as a write of their own (a socket opening); returns the agent as
    written (None when the agent no longer exists)."""
    agent = AgentModel(agent_id)
    applied = conditional(lambda: agent.update(  # returns the whole item (ALL_NEW): no second read
        actions=heartbeat_actions(connection_id), condition=AgentModel.agent_id.exists()))
    return agent if applied else None


def was_silent(agent: AgentModel) -> bool:
    """Before the heartbeat just written, the agent had been silent past the window (or never
    heard): dispatchers skipped them meanwhile. Or the agent changed since their previous
    heartbeat (``updated_at``: a status or capacity set, such as the status restored as their
    socket opened, which dispatches nothing: ``presence.agent_connected``): the queue may not have
    been looked at for them since."""
    previous = float(agent.heartbeat_prev or 0)
    if previous < float(agent.heartbeat_at or 0) - get_config().heartbeat_window_seconds:
        return True
    return agent.updated_at is not None and clock.epoch_of(agent.updated_at) >= previous - 0.001  # ms stamps


def mark_disconnected(agent_id: str) -> str | None:
    """No open socket left: out of the pool at once, and an online agent is set away (reason
    ``disconnected``, their chosen status kept in ``resume_status`` for their next socket to
    restore), so nobody is routed to an agent who closed the console. Conditioned on the set of
    open sockets still being empty, so a socket opened meanwhile wins. Returns the status the
    agent is left with (None when a socket opened meanwhile, or the agent is gone). Away is one
    write conditioned on the agent being online; any other status keeps itself."""
    now = clock.epoch()
    no_socket = AgentModel.agent_id.exists() & AgentModel.socket_ids.does_not_exist()
    left = [AgentModel.disconnected_at.set(now), AgentModel.pool.remove()]
    away = [*left, AgentModel.status.set("away"), AgentModel.offline_reason.set(DISCONNECTED),
            AgentModel.resume_status.set("online"), AgentModel.updated_at.set(clock.iso())]
    was_online = no_socket & (AgentModel.status == "online")
    tx = Transaction()  # off the roster with the status (its token recognises a lost answer's commit)
    tx.update("agent", AgentModel(agent_id), actions=away, condition=was_online)
    roster.add_membership(tx, agent_id, "away")
    if not tx.commit():
        return "away"
    stored = AgentModel(agent_id)
    if not conditional(lambda: stored.update(actions=left, condition=no_socket)):
        return None
    return stored.status


def mark_connected(agent_id: str, connection_id: str, cap: int | None = None) -> AgentModel | None:
    """A new socket of the agent: remember it (before anything else looks at presence). None when
    the agent no longer exists or already holds ``cap`` sockets (one conditional write)."""
    agent = AgentModel(agent_id)
    stored: list[AgentModel] = []

    def already_joined() -> bool:  # the answer was lost and the retry found the set full
        stored.extend(filter(None, [holding(AgentModel, agent_id, connection_id)]))
        return bool(stored)

    applied = conditional(lambda: agent.update(
        actions=[AgentModel.socket_ids.add({connection_id}), AgentModel.heartbeat_at.set(clock.epoch()),
                 AgentModel.disconnected_at.remove()],
        condition=room_for(AgentModel, cap),
    ), already_done=already_joined)
    return (stored[0] if stored else agent) if applied else None


def note_offline_told(agent_id: str, reason: str, told: str) -> bool:
    """Record that an agent set offline for ``reason`` was told; True for the one writer that
    did it (so the notice goes out once). After a lost answer, a stored ``told`` counts as this
    call's: a second notice, in the rare case another writer did it meanwhile, beats none."""
    return conditional(lambda: AgentModel(agent_id).update(
        actions=[AgentModel.offline_reason.set(told)],
        condition=(AgentModel.status == "offline") & (AgentModel.offline_reason == reason)),
        already_done=lambda: stored_as(AgentModel, agent_id, {"status": "offline", "offline_reason": told})
        is not None)
