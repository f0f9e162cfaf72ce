"""Who is online, exactly: the roster item holds the ids of the agents whose stored status is
``online``, and every write that moves an agent into or out of ``online`` changes it in the same
transaction (``slots``), as does deleting an agent.

The widget asks "can anyone answer?" before every conversation. The directory and pool indexes
lag behind a status change (GSIs are eventually consistent, with no bound under load), so an
answer read from them told customers "nobody is here" while an agent was online. The roster is
read consistently, then its agents in one consistent batch: two calls, exact, and one when
nobody is online.
"""

from __future__ import annotations

from chalicelib.models import AgentModel, CounterModel
from chalicelib.models.base import Transaction, get_or_none
from chalicelib.models.batch import get_all

ROSTER = "agents-online"
ONLINE = "online"


def writes_roster(old_status: str, new_status: str) -> bool:
    """A status write that writes the roster in its transaction: into or out of ``online``, and
    ``online`` set again (which puts back an agent the roster missed, such as one online before
    the roster existed)."""
    return ONLINE in (old_status, new_status)


def add_membership(tx: Transaction, agent_id: str, status: str) -> None:
    """Add to ``tx``: the agent is on the roster when ``status`` is online, off it otherwise
    (set ADD and DELETE: a retry of the transaction leaves the same roster)."""
    ids = {agent_id}
    action = CounterModel.members.add(ids) if status == ONLINE else CounterModel.members.delete(ids)
    tx.update("roster", CounterModel(ROSTER), actions=[action])


def online_agents() -> list[AgentModel]:
    """The agents whose status is online, as stored now (consistent reads, never an index)."""
    roster = get_or_none(CounterModel, ROSTER)
    ids = sorted(roster.members or ()) if roster is not None else []
    if not ids:
        return []
    return [agent for agent in get_all(AgentModel, ids) if agent.status == ONLINE]
