"""The one definition of an *available* agent, in the three forms it is checked in.

An agent may take a customer while their status is ``online``, they have a live socket (no
``disconnected_at``, a heartbeat within ``KEFU_HEARTBEAT_WINDOW``) and ``active_count <
max_concurrent``. ``is_available`` asks it in Python; ``available_condition`` is the same rule as a
condition expression, used by the writes that depend on it (auto-assignment, transfer target,
putting an agent in the pool) and as the filter of the candidate Query, so a silent agent still
in the index is skipped by the Query itself and the Query pages on past them.
"""

from __future__ import annotations

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.models import AgentModel


def heartbeat_cutoff(at: float | None = None) -> float:
    """Heartbeats older than this are silence."""
    return (clock.epoch() if at is None else at) - get_config().heartbeat_window_seconds


def is_live(agent: AgentModel, at: float | None = None) -> bool:
    """A socket is open and spoke within the heartbeat window."""
    return agent.disconnected_at is None and float(agent.heartbeat_at or 0) >= heartbeat_cutoff(at)


def is_available(agent: AgentModel, active: int | None = None, at: float | None = None, *,
                 status: str | None = None, capacity: int | None = None) -> bool:
    """Online, live, and below capacity; ``active``, ``status`` and ``capacity`` ask the same of
    the agent as an update is about to leave it."""
    active = int(agent.active_count) if active is None else active
    status = agent.status if status is None else status
    capacity = int(agent.max_concurrent) if capacity is None else capacity
    return status == "online" and is_live(agent, at) and active < capacity


def live_condition(at: float | None = None):
    """``is_live`` as a condition expression on the stored agent."""
    return AgentModel.disconnected_at.does_not_exist() & (AgentModel.heartbeat_at >= heartbeat_cutoff(at))


def heard_since(agent: AgentModel, cutoff: float) -> bool:
    """A frame (a heartbeat) came at or after ``cutoff``."""
    return float(agent.heartbeat_at or 0) >= cutoff


def unheard_condition(cutoff: float):
    """``not heard_since`` as a condition expression on the stored agent: a write that decided on
    an agent's silence holds only while no frame has landed since."""
    return AgentModel.heartbeat_at.does_not_exist() | (AgentModel.heartbeat_at < cutoff)


def available_condition(at: float | None = None):
    """``is_available`` as a condition (or Query filter) expression on the stored agent."""
    return (AgentModel.status == "online") & live_condition(at) & (
        AgentModel.active_count < AgentModel.max_concurrent)
