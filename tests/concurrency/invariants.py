"""The assignment system's promises, as checks over one consistent reading of the stored state.

Shared by the state machine, the 200-way race and the soak. The reading uses consistent Scans of
the base tables (a test may scan; no request path does): never an index, because on the realistic
backend an index answers from the past and the checks must judge the present. Each check returns
the violations it found (empty when the promise holds), so a failure names every broken promise.

What a user sees through the product's own index reads (``queue_view`` and the positions told) is
checked separately, after quiescence: once no write happened for longer than the index lag.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.models import AgentModel, AssignmentModel, CounterModel, SessionModel
from chalicelib.models.counter import QUEUE_COUNTER
from chalicelib.services.assignment import roster

ENDED_STATUSES = ("ended", "abandoned")
# An agent whose heartbeat is this close to the window's edge may be judged live by the code and
# stale by the check (real time runs between the two readings): neither verdict is wrong.
EDGE_SECONDS = 3.0


def index_lag_seconds() -> float:
    """How long the backend's indexes may lag behind the table now, plus a margin: the knob in
    force on the backend (``GET /_kefu/sim``), else the environment's, else AWS mode's 250 ms."""
    lag_ms = float(os.environ.get("KEFU_SIM_GSI_LAG_MS") or 250)
    endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    if endpoint:
        try:
            with urllib.request.urlopen(f"{endpoint}/_kefu/sim", timeout=5) as response:
                lag_ms = float(json.loads(response.read()).get("gsi_lag_ms", lag_ms))
        except (OSError, ValueError):
            pass  # a backend without the simulation: keep the conservative default
    return lag_ms / 1000 + 0.1


def settle() -> None:
    """Let every index catch up with every write made so far. The simulated backend does it at
    once on request (what waiting out its lag and its rare spikes of up to 10 s would show); only a
    backend without the simulation is waited out for its usual lag."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    if endpoint:
        try:
            urllib.request.urlopen(urllib.request.Request(f"{endpoint}/_kefu/sim/settle", data=b"",
                                                          method="POST"), timeout=5).close()
            return
        except OSError:
            pass  # a backend without the simulation: its indexes lag no longer than the wait
    time.sleep(index_lag_seconds())


@dataclass
class Snapshot:
    """Everything the promises talk about, read with consistent Scans at ``at`` (the app's clock)."""

    at: float
    agents: dict[str, AgentModel]
    sessions: dict[str, SessionModel]
    assignments: dict[str, AssignmentModel]  # by customer
    queue_length: int  # the counter item itself: the product clamps its reading at zero
    roster: set[str] = field(default_factory=set)  # the ids on the roster of online agents

    @property
    def queued(self) -> list[SessionModel]:
        return sorted((s for s in self.sessions.values() if s.status == "queued"),
                      key=lambda s: int(s.queue_ticket) if s.queue_ticket is not None else 0)


def read_snapshot() -> Snapshot:
    try:
        length = int(CounterModel.get(QUEUE_COUNTER, consistent_read=True).length or 0)
    except CounterModel.DoesNotExist:
        length = 0
    return Snapshot(
        at=clock.epoch(),
        agents={a.agent_id: a for a in AgentModel.scan(consistent_read=True)},
        sessions={s.session_id: s for s in SessionModel.scan(consistent_read=True)},
        assignments={a.customer_id: a for a in AssignmentModel.scan(consistent_read=True)},
        queue_length=length,
        roster=roster.members(),
    )


def held_by(snapshot: Snapshot) -> Counter[str]:
    return Counter(a.agent_id for a in snapshot.assignments.values())


def capacity_violations(snapshot: Snapshot, allowance: dict[str, int] | None = None) -> list[str]:
    """No agent holds more customers than ``max_concurrent`` (plus any allowance: customers kept
    when capacity was lowered below the load), by their count or by the assignments naming them."""
    allowance = allowance or {}
    held = held_by(snapshot)
    found = []
    for agent_id, agent in snapshot.agents.items():
        limit = int(agent.max_concurrent) + allowance.get(agent_id, 0)
        load = max(int(agent.active_count), held[agent_id])
        if load > limit:
            found.append(f"agent {agent_id} holds {load} (count {int(agent.active_count)}, "
                         f"assignments {held[agent_id]}) on a capacity of {int(agent.max_concurrent)}")
    return found


def count_violations(snapshot: Snapshot) -> list[str]:
    """Every agent's ``active_count`` equals the assignments naming them."""
    held = held_by(snapshot)
    found = [f"agent {agent_id}: count {int(agent.active_count)} but {held[agent_id]} assignments"
             for agent_id, agent in snapshot.agents.items() if int(agent.active_count) != held[agent_id]]
    found += [f"assignment of {customer} names unknown agent {a.agent_id}"
              for customer, a in snapshot.assignments.items() if a.agent_id not in snapshot.agents]
    return found


def customer_violations(snapshot: Snapshot) -> list[str]:
    """No customer has two agents or two open sessions; an active session and its customer's
    assignment name each other and the same agent; an assignment backs exactly an active session."""
    found = []
    open_by_visitor: dict[str, list[str]] = {}
    for session_id, session in snapshot.sessions.items():
        if session.status in ("queued", "active"):
            open_by_visitor.setdefault(session.visitor_id, []).append(session_id)
        if session.status == "active":
            held = snapshot.assignments.get(session.visitor_id)
            if held is None or held.session_id != session_id:
                found.append(f"active session {session_id} has no assignment (customer's: {held and held.session_id})")
            elif held.agent_id != session.agent_id:
                found.append(f"session {session_id} is with {session.agent_id}, its assignment names {held.agent_id}")
    for visitor_id, open_ids in open_by_visitor.items():
        if len(open_ids) > 1:
            found.append(f"visitor {visitor_id} has {len(open_ids)} open sessions: {open_ids}")
    for customer, held in snapshot.assignments.items():
        session = snapshot.sessions.get(held.session_id)
        if session is None or session.status != "active":
            found.append(f"assignment of {customer} points at session {held.session_id} "
                         f"which is {session.status if session else 'missing'}")
    return found


def waiting_violations(snapshot: Snapshot) -> list[str]:
    """Every customer who asked for an agent is served (active), queued in the queue index with a
    ticket of their own, or ended with a reason; the queue counter counts exactly the queued."""
    found = []
    tickets: Counter[int] = Counter()
    for session_id, session in snapshot.sessions.items():
        if session.status == "queued":
            if session.queue_pool is None or session.queue_ticket is None:
                found.append(f"queued session {session_id} is outside the queue "
                             f"(pool {session.queue_pool}, ticket {session.queue_ticket})")
            else:
                tickets[int(session.queue_ticket)] += 1
        elif session.status == "active":
            if not session.agent_id:
                found.append(f"active session {session_id} names no agent")
        elif session.status in ENDED_STATUSES:
            if not session.end_reason:
                found.append(f"{session.status} session {session_id} has no reason")
        else:
            found.append(f"session {session_id} is {session.status!r}")
        if session.status != "queued" and session.queue_pool is not None:
            found.append(f"{session.status} session {session_id} is still in the queue index")
    found += [f"queue ticket {t} is held by {n} sessions" for t, n in tickets.items() if n > 1]
    if snapshot.queue_length != len(snapshot.queued):
        found.append(f"queue counter says {snapshot.queue_length}, {len(snapshot.queued)} are queued")
    return found


def is_live_agent(agent: AgentModel, at: float) -> bool | None:
    """Online and heard from within the heartbeat window; None when too close to the edge to say."""
    age = at - float(agent.heartbeat_at or 0)
    window = get_config().heartbeat_window_seconds
    if abs(age - window) < EDGE_SECONDS:
        return None
    return agent.status == "online" and agent.disconnected_at is None and age < window


def is_available(agent: AgentModel, at: float) -> bool | None:
    live = is_live_agent(agent, at)
    return None if live is None else live and int(agent.active_count) < int(agent.max_concurrent)


def pool_violations(snapshot: Snapshot) -> list[str]:
    """The ``available`` index holds exactly the agents who may take a customer (after quiescence:
    a silent agent leaves it at the next sweep)."""
    found = []
    for agent_id, agent in snapshot.agents.items():
        available = is_available(agent, snapshot.at)
        if available is not None and (agent.pool is not None) != available:
            found.append(f"agent {agent_id} pool={agent.pool} but available={available} (status {agent.status}, "
                         f"{int(agent.active_count)}/{int(agent.max_concurrent)}, "
                         f"heartbeat {snapshot.at - float(agent.heartbeat_at or 0):.0f} s ago, "
                         f"disconnected_at {agent.disconnected_at})")
    return found


def roster_violations(snapshot: Snapshot) -> list[str]:
    """The roster of online agents (what the widget's availability reads) lists exactly the agents
    whose status is online: every status write into or out of online changes it in its transaction."""
    online = {agent_id for agent_id, agent in snapshot.agents.items() if agent.status == "online"}
    return [f"roster lists {sorted(snapshot.roster - online)} not online and misses {sorted(online - snapshot.roster)}"
            ] if online != snapshot.roster else []


def idle_agent_violations(snapshot: Snapshot) -> list[str]:
    """Nobody waits while an agent could take them (after quiescence)."""
    if not snapshot.queued:
        return []
    idle = [a for a in snapshot.agents.values() if is_available(a, snapshot.at)]
    return [f"{len(snapshot.queued)} waiting while agent {a.agent_id} is available "
            f"({int(a.active_count)}/{int(a.max_concurrent)})" for a in idle]


def queue_view_violations(snapshot: Snapshot, view: list[dict[str, Any]]) -> list[str]:
    """What agents see of the queue (the product's index read): exactly the queued customers, in
    ticket order, at unique consecutive positions."""
    found = []
    queued = [s.session_id for s in snapshot.queued]
    shown = [row["session_id"] for row in view]
    if shown != queued:
        found.append(f"queue view shows {shown}, queued in ticket order are {queued}")
    positions = [row["position"] for row in view]
    if positions != list(range(1, len(view) + 1)):
        found.append(f"queue positions {positions}")
    return found


def every_violation(snapshot: Snapshot, allowance: dict[str, int] | None = None) -> list[str]:
    """The promises that hold after every step, not only after quiescence."""
    return (capacity_violations(snapshot, allowance) + count_violations(snapshot)
            + customer_violations(snapshot) + waiting_violations(snapshot))


def quiescent_violations(snapshot: Snapshot, view: list[dict[str, Any]],
                         allowance: dict[str, int] | None = None) -> list[str]:
    return (every_violation(snapshot, allowance) + pool_violations(snapshot) + roster_violations(snapshot)
            + idle_agent_violations(snapshot) + queue_view_violations(snapshot, view))


def describe(violations: list[str], limit: int = 20) -> str:
    shown = violations[:limit]
    more = f"\n... and {len(violations) - limit} more" if len(violations) > limit else ""
    return "\n".join(shown) + more
