"""This container's own latest assignment writes, overlaid on the lagging ``available`` index.

The index trails the agents' items (a quarter second typically, seconds in a spike), so an
assigner that gave a customer to the least-loaded agent a moment ago reads that agent back at
its old load: it picks them again, and the exact commit (conditioned on the count as read) is
refused and sent again, one transaction more per assignment under a steady stream. Remembering
what this container last wrote for each agent, for a short while, and laying it over an index
entry that is older (its ``last_assigned_at`` before the one written here) spreads back-to-back
assignments as the least-loaded rule means them. A hint only: the commit's conditions decide,
and another container's writes meet the usual refusal and retry.

A process that serves many requests at once (the local stack's threads; a Lambda container serves
one at a time) also has assigners racing each other: a burst of them reads the index at once and
all pick the same agent, and all but one transaction is refused. With ``assigners_share_process``
they take turns per agent (``turn``): the next assigner of an agent commits from the write the
previous one remembered, and picks count the turns already taken or waited for (``busy_key``), so
a burst spreads over the agents as the least-loaded rule means it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.models import AgentModel
from chalicelib.models.agent import load_key
from chalicelib.services.container import Recent

TURN_WAIT = 2.0  # seconds an assigner waits for its turn before committing anyway (conditions decide)

FIELDS = ("active_count", "load_key", "pool", "last_assigned_at")  # what an assignment writes

_written: Recent[str, dict[str, Any]] = Recent(max_age=30.0, max_entries=5_000)  # far past any lag worth mending


def remember(agent: AgentModel) -> None:
    """``agent`` as this container just wrote it (an assignment: ``last_assigned_at`` is now); its
    ``load_key`` as the counts make it (an additive write leaves the stored one behind a moment)."""
    written = {field: getattr(agent, field) for field in FIELDS}
    written["load_key"] = load_key(int(agent.active_count), int(agent.max_concurrent), agent.last_assigned_at,
                                   agent.agent_id)
    _written.put(agent.agent_id, written)


def overlay(agent: AgentModel) -> AgentModel:
    """``agent`` (an index entry) with this container's newer write laid over it, if the entry is older."""
    known = _written.get(agent.agent_id)
    if known is not None and (known["last_assigned_at"] or "") > (agent.last_assigned_at or ""):
        for field, value in known.items():
            setattr(agent, field, value)
    return agent


_turns_guard = threading.Lock()
_turns: dict[str, tuple[threading.Lock, list[int]]] = {}  # agent id -> (the turn, [assigners holding or waiting])


def taking_turns() -> bool:
    return get_config().assigners_share_process


def busy_key(agent: AgentModel) -> str:
    """``agent``'s place in the least-loaded order counting the assigners of this process that
    hold or wait for a turn on them (each one more customer, assigned now)."""
    with _turns_guard:
        entry = _turns.get(agent.agent_id)
        waiting = entry[1][0] if entry is not None else 0
    if not waiting:
        return agent.load_key
    return load_key(int(agent.active_count) + waiting, int(agent.max_concurrent), clock.iso(), agent.agent_id)


@contextlib.contextmanager
def turn(agent_id: str) -> Iterator[None]:
    """This process's assigners commit to ``agent_id`` one at a time (with
    ``assigners_share_process``; otherwise at once, as Lambda containers do)."""
    if not taking_turns():
        yield
        return
    with _turns_guard:
        lock, waiting = _turns.setdefault(agent_id, (threading.Lock(), [0]))
        waiting[0] += 1
    acquired = lock.acquire(timeout=TURN_WAIT)
    try:
        yield
    finally:
        if acquired:
            lock.release()
        with _turns_guard:
            waiting[0] -= 1
            if not waiting[0]:
                del _turns[agent_id]
