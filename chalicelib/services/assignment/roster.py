"""Who is online, exactly: the roster item holds the ids of the agents whose stored status is
``online``, and every write that moves an agent into or out of ``online`` changes it in the same
transaction (``slots``), as does deleting an agent. The minute sweep puts right what a direct
write left wrong (and adds the agents who were online before the roster existed): ``repair``.

The widget asks "can anyone answer?" before every conversation. The directory and pool indexes
lag behind a status change (GSIs are eventually consistent, with no bound under load), so an
answer read from them told customers "nobody is here" while an agent was online. The roster is
read consistently, then its agents in consistent batches: two calls, exact, and one when
nobody is online.
"""

from __future__ import annotations

from collections.abc import Iterator

from chalicelib.models import AgentModel, CounterModel
from chalicelib.models.base import Transaction, get_or_none
from chalicelib.models.batch import get_all

ROSTER = "agents-online"
ONLINE = "online"
BATCH = 100  # agents per BatchGetItem (DynamoDB's limit)


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


def online_agents() -> Iterator[AgentModel]:
    """The agents whose status is online, as stored now (consistent reads, never an index), read
    a batch at a time as the caller goes on (one that stops at the first free agent reads one)."""
    ids = sorted(members())
    for start in range(0, len(ids), BATCH):
        yield from (agent for agent in get_all(AgentModel, ids[start:start + BATCH]) if agent.status == ONLINE)


def members() -> set[str]:
    """The ids on the roster now (a consistent read)."""
    roster = get_or_none(CounterModel, ROSTER)
    return set(roster.members or ()) if roster is not None else set()


def repair(agent: AgentModel, listed: set[str]) -> bool:
    """Put the roster right about ``agent`` (read consistently) when ``listed`` (the roster as
    read) disagrees with its status; conditioned on the status still being what was read, so a
    status change meanwhile (which writes the roster itself) wins. True when it wrote."""
    online = agent.status == ONLINE
    if online == (agent.agent_id in listed):
        return False
    tx = Transaction()
    still = AgentModel.status == ONLINE if online else AgentModel.status != ONLINE
    tx.check("agent", AgentModel, agent.agent_id, still)
    add_membership(tx, agent.agent_id, agent.status)
    return not tx.commit()
