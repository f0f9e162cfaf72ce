"""This container's own latest assignment writes, overlaid on the lagging ``available`` index.

The index trails the agents' items (a quarter second typically, seconds in a spike), so an
assigner that gave a customer to the least-loaded agent a moment ago reads that agent back at
its old load: it picks them again, and the exact commit (conditioned on the count as read) is
refused and sent again, one transaction more per assignment under a steady stream. Remembering
what this container last wrote for each agent, for a short while, and laying it over an index
entry that is older (its ``last_assigned_at`` before the one written here) spreads back-to-back
assignments as the least-loaded rule means them. A hint only: the commit's conditions decide,
and another container's writes meet the usual refusal and retry.
"""

from __future__ import annotations

from typing import Any

from chalicelib.models import AgentModel
from chalicelib.models.agent import load_key
from chalicelib.services.container import Recent

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
