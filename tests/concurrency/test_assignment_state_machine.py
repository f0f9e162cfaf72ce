"""The assignment invariants hold after every step of random start / end / release / transfer /
status / capacity / cleanup sequences (Hypothesis stateful testing against the moto server).

Each example starts from empty tables. The machine models little: which agents and sessions exist
and, per agent, how far above capacity it may legitimately be (capacity lowered below its load).
Everything else is read back from DynamoDB with consistent reads and checked against the contract.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from chalicelib.config import get_config
from chalicelib.errors import Conflict, KefuError, NotFound
from chalicelib.models import AgentModel, AssignmentModel, CounterModel, SessionModel
from chalicelib.models.counter import QUEUE_COUNTER
from chalicelib.models.session import OPEN_STATUSES, QUEUE_POOL
from chalicelib.services import agents, assignment, chat
from chalicelib.services.tokens import Principal
from tests.conftest import reset_tables

VISITORS = [f"v{n}" for n in range(5)]
STATUSES = ["online", "away", "offline"]
DESK_STATUSES = ["online", "online", "away", "offline"]  # the desk mostly opens staffed
MAX_AGENTS = 4  # below the candidate page size, so the index read always sees every agent
MAX_SWEEPS = 3  # a sweep costs dozens of calls; a few per example cover it, and it is idempotent


@dataclass
class Stored:
    """One consistent reading of everything the invariants look at."""

    agents: dict[str, AgentModel]
    sessions: dict[str, SessionModel]
    assignments: dict[str, AssignmentModel]  # by customer, from consistent gets
    by_agent: dict[str, list[AssignmentModel]]  # what the by_agent index lists, confirmed
    waiting: list[SessionModel]  # the queue index, oldest ticket first
    queue_counter: int  # the counter item itself: queue_length() clamps at zero, hiding a leak below
    queue_view: list[dict]


def _visitor(visitor_id: str) -> Principal:
    return Principal(user_id=visitor_id, typ="visitor", role="visitor", name=visitor_id.upper())


class AssignmentMachine(RuleBasedStateMachine):
    """Agents and customers acting one at a time; the invariants are checked after every step."""

    agents = Bundle("agents")
    sessions = Bundle("sessions")

    def __init__(self) -> None:
        super().__init__()
        reset_tables()
        self.agent_ids: list[str] = []
        self.session_visitor: dict[str, str] = {}
        # How many customers above max_concurrent an agent may hold: set when capacity is lowered
        # below the load, and it only shrinks as those customers leave.
        self.allowance: dict[str, int] = {}
        self.sweeps = 0
        self.began = time.monotonic()
        self._stored: Stored | None = None

    # --- reading back -----------------------------------------------------------------------

    def stored(self) -> Stored:
        # Agents are made live once (going online) and never ping again: the availability
        # invariants hold only while those heartbeats are inside the window.
        assert time.monotonic() - self.began < get_config().heartbeat_window_seconds, (
            "this example outlived the heartbeat window; its agents went stale")
        if self._stored is None:
            agent_map = {a.agent_id: a for a in AgentModel.batch_get(self.agent_ids, consistent_read=True)}
            session_map = {s.session_id: s for s in SessionModel.batch_get(list(self.session_visitor),
                                                                          consistent_read=True)}
            assignment_map = {a.customer_id: a for a in AssignmentModel.batch_get(VISITORS,
                                                                                  consistent_read=True)}
            by_agent = {}
            for agent_id in self.agent_ids:
                listed = []
                for item in AssignmentModel.by_agent.query(agent_id):
                    confirmed = assignment_map.get(item.customer_id)
                    if confirmed is not None and confirmed.agent_id == agent_id:
                        listed.append(confirmed)
                by_agent[agent_id] = listed
            waiting = list(SessionModel.queue.query(QUEUE_POOL))
            try:
                counter = int(CounterModel.get(QUEUE_COUNTER, consistent_read=True).length or 0)
            except CounterModel.DoesNotExist:
                counter = 0
            self._stored = Stored(agent_map, session_map, assignment_map, by_agent, waiting, counter,
                                  assignment.queue_view())
        return self._stored

    def changed(self) -> None:
        self._stored = None

    # --- agents ------------------------------------------------------------------------------

    def _new_agent(self, capacity: int) -> str:
        name = f"agent{len(self.agent_ids)}"
        agent = agents.create_agent(name, "password123", name.title(), max_concurrent=capacity)
        self.agent_ids.append(agent.agent_id)
        self.allowance[agent.agent_id] = 0
        return agent.agent_id

    @initialize(target=agents, staff=st.lists(st.tuples(st.integers(0, 3), st.sampled_from(DESK_STATUSES)),
                                              min_size=1, max_size=3))
    def open_the_desk(self, staff: list[tuple[int, str]]):
        """A few agents from the start, so most examples reach assignments within their steps."""
        self.changed()
        created = []
        for capacity, status in staff:
            agent_id = self._new_agent(capacity)
            self._set_status(agent_id, status, heartbeat_first=True)
            created.append(agent_id)
        return multiple(*created)

    @precondition(lambda self: len(self.agent_ids) < MAX_AGENTS)
    @rule(target=agents, capacity=st.integers(0, 3))
    def add_agent(self, capacity: int) -> str:
        self.changed()
        return self._new_agent(capacity)

    @rule(agent_id=agents, status=st.sampled_from(STATUSES), heartbeat_first=st.booleans())
    def change_status(self, agent_id: str, status: str, heartbeat_first: bool) -> None:
        self.changed()
        self._set_status(agent_id, status, heartbeat_first)

    def _set_status(self, agent_id: str, status: str, heartbeat_first: bool) -> None:
        """Going online comes with the console's heartbeat (before or after), so the agent is live."""
        if status == "online" and heartbeat_first:
            assignment.agent_heartbeat(agent_id)
        assignment.set_status(agent_id, status)
        if status == "online" and not heartbeat_first:
            assignment.agent_heartbeat(agent_id)

    @rule(agent_id=agents, capacity=st.integers(0, 3))
    def change_capacity(self, agent_id: str, capacity: int) -> None:
        self.changed()
        load = int(AgentModel.get(agent_id, consistent_read=True).active_count)
        assignment.set_capacity(agent_id, capacity)
        self.allowance[agent_id] = max(0, load - capacity)

    # --- customers ---------------------------------------------------------------------------

    @initialize(target=sessions, visitor_ids=st.lists(st.sampled_from(VISITORS), min_size=1, max_size=3))
    def first_customers(self, visitor_ids: list[str]):
        """Customers already arriving (before or after the desk opens): ends, releases and transfers
        have something to act on even in examples where Hypothesis switches the ``start`` rule off."""
        return multiple(*(self.start(visitor_id) for visitor_id in visitor_ids))

    @rule(target=sessions, visitor_id=st.sampled_from(VISITORS))
    def start(self, visitor_id: str) -> str:
        self.changed()
        already_open = chat.open_session_of(visitor_id)
        state = chat.start_session_for(visitor_id, visitor_id.upper())
        if already_open is not None:
            assert state.session.session_id == already_open.session_id, "a second open session"
        assert state.session.status in OPEN_STATUSES
        event(f"start: {'existing' if already_open else state.session.status}")
        self.session_visitor[state.session.session_id] = visitor_id
        return state.session.session_id

    @rule(session_id=sessions, through_chat=st.booleans())
    def end(self, session_id: str, through_chat: bool) -> None:
        self.changed()
        visitor_id = self.session_visitor[session_id]
        session = SessionModel.get(session_id, consistent_read=True)
        was_open = session.is_open
        try:
            if through_chat:
                chat.end_session(_visitor(visitor_id), session_id)
            else:
                assignment.end_session(session, ended_by=visitor_id, reason="ended_by_visitor")
        except Conflict:
            assert not was_open, "an open session refused to end"
            event("end: already closed")
            return
        event(f"end: {session.status}")
        assert was_open, "a closed session ended again"
        assert SessionModel.get(session_id, consistent_read=True).status == "ended"

    @rule(session_id=sessions)
    def release(self, session_id: str) -> None:
        """The agent releases the customer of a known session (who may since have another one)."""
        self.changed()
        visitor_id = self.session_visitor[session_id]
        held = assignment.get_assignment(visitor_id)
        try:
            released = assignment.release_customer(visitor_id, ended_by="agent")
        except NotFound:
            assert held is None, "a customer with an agent could not be released"
            event("release: no agent")
            return
        event("release: done")
        assert held is not None and released.session_id == held.session_id
        assert SessionModel.get(held.session_id, consistent_read=True).status == "ended"

    @rule(session_id=sessions, to_agent=st.none() | agents)
    def transfer(self, session_id: str, to_agent: str | None) -> None:
        self.changed()
        before = SessionModel.get(session_id, consistent_read=True)
        try:
            outcome = assignment.transfer(session_id, to_agent, by_user="admin")
        except KefuError as refused:
            event(f"transfer refused: {refused.code}")
            after = SessionModel.get(session_id, consistent_read=True)
            assert (after.status, after.agent_id) == (before.status, before.agent_id), "a refused transfer moved"
            return
        event("transfer: done")
        if to_agent is not None:
            assert outcome.agent_id == to_agent
        stored = SessionModel.get(session_id, consistent_read=True)
        assert (stored.status, stored.agent_id) == ("active", outcome.agent_id)

    @rule()
    def cleanup(self) -> None:
        if self.sweeps == MAX_SWEEPS:
            return  # a no-op step rather than a precondition, which would leave some examples stuck
        self.changed()
        self.sweeps += 1
        report = assignment.cleanup()
        event(f"cleanup: {'changed' if report.counts_fixed or report.agents_offline else 'no change'}")

    # --- invariants --------------------------------------------------------------------------

    @invariant()
    def active_count_equals_assignments(self) -> None:
        stored = self.stored()
        for agent_id, agent in stored.agents.items():
            held = stored.by_agent[agent_id]
            assert int(agent.active_count) == len(held), (agent_id, int(agent.active_count), held)
        listed = sum(len(held) for held in stored.by_agent.values())
        assert listed == len(stored.assignments), "an assignment names an agent that does not list it"

    @invariant()
    def load_within_capacity_or_the_allowance(self) -> None:
        for agent_id, agent in self.stored().agents.items():
            excess = int(agent.active_count) - int(agent.max_concurrent)
            assert excess <= self.allowance[agent_id], (agent_id, int(agent.active_count),
                                                        int(agent.max_concurrent))
            self.allowance[agent_id] = max(0, excess)  # customers who left never come back as slack

    @invariant()
    def every_session_is_in_exactly_one_state(self) -> None:
        stored = self.stored()
        waiting_ids = {s.session_id for s in stored.waiting}
        pointed_at = {a.session_id: a for a in stored.assignments.values()}
        assert set(pointed_at) <= set(stored.sessions), "an assignment for an unknown session"
        assert waiting_ids <= set(stored.sessions), "an unknown session waits in the queue"
        open_by_visitor: dict[str, list[str]] = {}
        for session_id, session in stored.sessions.items():
            if session.status == "active":
                held = stored.assignments.get(session.visitor_id)
                assert held is not None and held.session_id == session_id, (session_id, held)
                assert held.agent_id == session.agent_id, (session_id, held.agent_id, session.agent_id)
                assert session_id not in waiting_ids
            elif session.status == "queued":
                assert session_id in waiting_ids, f"queued session {session_id} is not in the queue"
                assert session_id not in pointed_at
            else:
                assert session.status in ("ended", "abandoned"), session.status
                assert session_id not in waiting_ids and session_id not in pointed_at, session_id
            if session.is_open:
                open_by_visitor.setdefault(session.visitor_id, []).append(session_id)
        for visitor_id, open_ids in open_by_visitor.items():
            assert len(open_ids) == 1, (visitor_id, open_ids)

    @invariant()
    def queue_counter_and_positions_match_the_queue(self) -> None:
        stored = self.stored()
        queued = [s for s in stored.sessions.values() if s.status == "queued"]
        assert stored.queue_counter == len(queued), (stored.queue_counter, [s.session_id for s in queued])
        view = stored.queue_view
        assert {row["session_id"] for row in view} == {s.session_id for s in queued}
        assert [row["position"] for row in view] == list(range(1, len(queued) + 1))
        tickets = [int(stored.sessions[row["session_id"]].queue_ticket) for row in view]
        assert tickets == sorted(tickets)

    @invariant()
    def nobody_waits_while_an_agent_has_a_free_slot(self) -> None:
        stored = self.stored()
        if stored.waiting:
            idle = [a.agent_id for a in stored.agents.values() if assignment.is_available(a)]
            assert not idle, (f"{len(stored.waiting)} waiting while available", idle)

    @invariant()
    def pool_is_set_iff_available(self) -> None:
        for agent in self.stored().agents.values():
            assert (agent.pool is not None) == assignment.is_available(agent), (
                agent.agent_id, agent.pool, agent.status, int(agent.active_count), int(agent.max_concurrent))


AssignmentMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestAssignment = AssignmentMachine.TestCase
