"""The assignment promises hold after every step of random sequences of what agents, customers,
admins and time do (Hypothesis stateful testing, on the suite's backend: the realistic one when the
concurrency conftest switches it on).

Agents open and close sockets (or let them die without a ``$disconnect``), send frames or fall
silent, change status and capacity; customers connect, ask for an agent, leave, end; agents end,
release and transfer; the clock jumps (heartbeats go stale, assignments expire, waiting customers
who left are abandoned); the sweep runs. There are more agents than one candidate page, so the
choice of agent has to look past the first page's silent or full agents.

Presence goes through the app's WebSocket handlers with API Gateway's events; pushes land in a
sink, and an ``internal_error`` frame fails the step. Sockets API Gateway would close (idle past its
10-minute timeout when the clock jumps) are closed, with or without their ``$disconnect``. The
oracle on pushes: every socket the model holds open receives every frame its owner is sent from
the moment it opened (a frame one of the owner's sockets received, or one that names the owner).
After every step the state read back with consistent Scans must keep every promise
(``invariants.every_violation``); after quiescence (the indexes caught up, the sweep ran) so must
the pool, the queue view, and no customer may wait beside an available agent. The machine models
only what the database cannot say: which sockets are open, and how far above capacity an agent
may legitimately be after their capacity was lowered.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from chalicelib import clock
from chalicelib.config import reload_config
from chalicelib.errors import Conflict, KefuError, NotFound
from chalicelib.models import AgentModel, SessionModel, VisitorModel
from chalicelib.services import agents, assignment, chat, revocation, tokens
from chalicelib.services.tokens import Principal
from tests.concurrency import desk
from tests.concurrency.invariants import (
    describe,
    every_violation,
    is_available,
    quiescent_violations,
    read_snapshot,
    settle,
)
from tests.conftest import reset_tables

VISITORS = [f"v_{n}" for n in range(8)]  # real visitor ids start with v_ (pushes look their owner up by it)
STATUSES = ["online", "away", "offline"]
DESK_STATUSES = ["online", "online", "online", "away", "offline"]  # the desk mostly opens staffed
CAPACITIES = [0, 1, 2, 2, 3, 3]
CANDIDATE_PAGE = 2  # KEFU_CANDIDATE_PAGE_SIZE for this machine: five agents are already two pages
MAX_AGENTS = 6
MAX_SWEEPS = 3  # a sweep costs dozens of calls; a few per example cover it
MAX_QUIESCENCES = 1  # besides the one at the end of every example
# Heartbeat window and presence grace are 30 s in tests; the assignment TTL is 30 min, the
# visitor-away timeout 10 min. Jumps below, across and far across each of them.
JUMPS = [5, 20, 40, 90, 700, 1900]
MAX_ADVANCE = 2 * 3600  # sockets live at most 2 h on API Gateway; tokens and records stay valid
GATEWAY_IDLE_TIMEOUT = 10 * 60
# Frames pushed to a user, which every socket of theirs must get; replies (pong, acks, errors,
# listings) go to the one socket that asked.
TO_THE_OWNER = {"session.queued", "session.assigned", "session.transferred", "session.released",
                "session.ended", "session.rated", "agent.presence", "message.new", "typing"}


def _named(frame: dict) -> set[str]:
    """The users a frame names as its addressees (besides the socket it reached)."""
    kind = frame.get("type")
    named = set()
    if kind in ("session.assigned", "session.transferred"):
        named |= {(frame.get(part) or {}).get("id") for part in ("customer", "agent", "from_agent")}
    return {user for user in named if user}


@pytest.fixture(autouse=True)
def _one_page_is_two_agents(monkeypatch):
    monkeypatch.setenv("KEFU_CANDIDATE_PAGE_SIZE", str(CANDIDATE_PAGE))
    reload_config()
    with desk.pushes_to_sink() as sink:
        AssignmentMachine.sink = sink
        yield
    reload_config()


def _visitor(visitor_id: str) -> Principal:
    return Principal(user_id=visitor_id, typ="visitor", role="visitor", name=visitor_id.upper())


def _agent(agent_id: str) -> Principal:
    return Principal(user_id=agent_id, typ="agent", role="agent", name=agent_id[-6:])


class AssignmentMachine(RuleBasedStateMachine):
    """Everyone acting one at a time; every promise is checked after every step."""

    sink: desk.PushSink

    def __init__(self) -> None:
        super().__init__()
        clock.reset()
        reset_tables()
        for visitor_id in VISITORS:
            # Signed up (as the widget does before it connects): $connect refuses the token of a
            # visitor who has no record. Fixed ids keep the machine's rules readable.
            VisitorModel(visitor_id, name=visitor_id.upper(), created_at=clock.iso()).save()
            revocation.forget("visitor", visitor_id)
        self.agent_ids: list[str] = []
        self.sockets: dict[str, list[str]] = {}  # user id -> connections the machine holds open
        self.owner: dict[str, str] = {}  # connection id -> user id
        self.opened_at: dict[str, int] = {}  # connection id -> the sink's sequence when it opened
        self.heard_at: dict[str, float] = {}  # connection id -> when its client last sent a frame
        self.allowance: dict[str, int] = {}
        self.sweeps = 0
        self.quiescences = 0
        self.advanced = 0
        self.sink.take_errors()
        self.sink.forget_log()

    # --- people and sockets ------------------------------------------------------------------

    def _token(self, user_id: str) -> str:
        principal = _visitor(user_id) if user_id in VISITORS else _agent(user_id)
        return tokens.issue(principal)[0]

    def _open_socket(self, user_id: str) -> None:
        connection_id = desk.connect(self._token(user_id))
        assert connection_id is not None, f"$connect of {user_id} refused"
        self.sockets.setdefault(user_id, []).append(connection_id)
        self.owner[connection_id] = user_id
        self.opened_at[connection_id] = self.sink.mark()  # posts before $connect returned get 410
        self.heard_at[connection_id] = clock.epoch()

    def _send(self, connection_id: str, action: str) -> None:
        desk.send(connection_id, action)
        self.heard_at[connection_id] = clock.epoch()

    def _new_agent(self, capacity: int) -> str:
        name = f"agent{len(self.agent_ids)}"
        agent = agents.create_agent(name, "password123", name.title(), max_concurrent=capacity)
        self.agent_ids.append(agent.agent_id)
        self.allowance[agent.agent_id] = 0
        return agent.agent_id

    def _pick(self, items: list, index: int):
        return items[index % len(items)] if items else None

    def _active_sessions(self) -> list[SessionModel]:
        return sorted((s for s in SessionModel.scan(SessionModel.status == "active", consistent_read=True)),
                      key=lambda s: s.session_id)

    # --- agents --------------------------------------------------------------------------------

    @initialize(staff=st.lists(st.tuples(st.sampled_from(CAPACITIES), st.sampled_from(DESK_STATUSES)),
                               min_size=3, max_size=MAX_AGENTS - 1))
    def open_the_desk(self, staff: list[tuple[int, str]]) -> None:
        """Several agents from the start, often more than a candidate page, each with two consoles."""
        created = [(self._new_agent(capacity), status) for capacity, status in staff]
        settle()  # a console connects after its login, later than the index lag
        for agent_id, status in created:
            self._open_socket(agent_id)  # a laptop, which sleeps while ...
            self._open_socket(agent_id)  # ... the phone is used (``consoles_ping``)
            assignment.set_status(agent_id, status)

    @precondition(lambda self: len(self.agent_ids) < MAX_AGENTS)
    @rule(capacity=st.sampled_from(CAPACITIES), online=st.booleans())
    def add_agent(self, capacity: int, online: bool) -> None:
        agent_id = self._new_agent(capacity)
        if online:
            settle()
            self._open_socket(agent_id)
            assignment.set_status(agent_id, "online")

    @rule(pick=st.integers(0, 99))
    def agent_opens_a_socket(self, pick: int) -> None:
        """A console opens (or a second tab, or a reload before the old socket's ``$disconnect``)."""
        self._open_socket(self._pick(self.agent_ids, pick))

    @rule(pick=st.integers(0, 99), which=st.integers(0, 3), silently=st.booleans())
    def agent_closes_a_socket(self, pick: int, which: int, silently: bool) -> None:
        """One of an agent's sockets closes (the phone while the laptop sleeps, or the other way
        round); ``silently``: it died and API Gateway's ``$disconnect`` never came."""
        agent_id = self._pick(self.agent_ids, pick)
        open_sockets = self.sockets.get(agent_id) or []
        if not open_sockets:
            event("agent close: no socket")
            return
        connection_id = open_sockets.pop(which % len(open_sockets))
        if not silently:
            desk.disconnect(connection_id)
        event(f"agent close: {'silent' if silently else '$disconnect'}")

    @rule(silent=st.sets(st.integers(0, MAX_AGENTS - 1), max_size=2))
    def consoles_ping(self, silent: set[int]) -> None:
        """Every agent's newest console pings (as the agent SPA does every few seconds), while
        their older ones sleep (a laptop shut, a tab in the background), except the agents who
        went silent altogether: a frozen tab, a network that drops packets."""
        for index, agent_id in enumerate(self.agent_ids):
            if index in silent or not self.sockets.get(agent_id):
                continue
            self._send(self.sockets[agent_id][-1], "ping")

    @rule(pick=st.integers(0, 99), status=st.sampled_from(STATUSES))
    def change_status(self, pick: int, status: str) -> None:
        assignment.set_status(self._pick(self.agent_ids, pick), status)

    @rule(pick=st.integers(0, 99), capacity=st.integers(0, 3))
    def change_capacity(self, pick: int, capacity: int) -> None:
        agent_id = self._pick(self.agent_ids, pick)
        load = int(AgentModel.get(agent_id, consistent_read=True).active_count)
        assignment.set_capacity(agent_id, capacity)
        self.allowance[agent_id] = max(self.allowance[agent_id], load - capacity, 0)

    # --- customers -----------------------------------------------------------------------------

    @initialize(visitor_ids=st.lists(st.sampled_from(VISITORS), min_size=1, max_size=4, unique=True))
    def first_customers(self, visitor_ids: list[str]) -> None:
        """Customers already arriving (before or after the desk opens), so that ends, releases and
        transfers have someone to act on from the first step."""
        for visitor_id in visitor_ids:
            self.customer_asks_for_an_agent(visitor_id)

    @rule(visitor_id=st.sampled_from(VISITORS))
    def customer_asks_for_an_agent(self, visitor_id: str) -> None:
        if not self.sockets.get(visitor_id):
            self._open_socket(visitor_id)
        already_open = chat.open_session_of(visitor_id)
        state = chat.start_session(_visitor(visitor_id), "help")
        if already_open is not None:
            assert state.session.session_id == already_open.session_id, "a second open session"
        assert state.session.status in ("queued", "active"), state.session.status
        event(f"start: {'existing' if already_open else state.session.status}")

    @rule(visitor_id=st.sampled_from(VISITORS), silently=st.booleans())
    def customer_closes_the_tab(self, visitor_id: str, silently: bool) -> None:
        for connection_id in self.sockets.pop(visitor_id, []):
            if not silently:
                desk.disconnect(connection_id)

    @rule(visitor_id=st.sampled_from(VISITORS))
    def customer_sends_a_frame(self, visitor_id: str) -> None:
        for connection_id in self.sockets.get(visitor_id) or []:
            self._send(connection_id, "ping")
            return

    @rule(visitor_id=st.sampled_from(VISITORS))
    def customer_ends(self, visitor_id: str) -> None:
        session = chat.open_session_of(visitor_id)
        if session is None:
            return
        try:
            chat.end_session(_visitor(visitor_id), session.session_id)
        except Conflict:
            assert not SessionModel.get(session.session_id, consistent_read=True).is_open, (
                "an open session refused to end")
            event("customer end: refused, already closed")
            return
        event(f"customer end: {session.status}")
        assert SessionModel.get(session.session_id, consistent_read=True).status == "ended"

    # --- agents acting on customers ------------------------------------------------------------

    @rule(pick=st.integers(0, 99))
    def agent_ends(self, pick: int) -> None:
        session = self._pick(self._active_sessions(), pick)
        if session is None:
            return
        chat.end_session(_agent(session.agent_id), session.session_id)
        event("agent end: done")
        assert SessionModel.get(session.session_id, consistent_read=True).status == "ended"

    @rule(pick=st.integers(0, 99))
    def agent_releases(self, pick: int) -> None:
        session = self._pick(self._active_sessions(), pick)
        if session is None:
            return
        released = assignment.release_customer(session.visitor_id, ended_by=session.agent_id)
        event("release: done")
        assert released.session_id == session.session_id
        assert SessionModel.get(session.session_id, consistent_read=True).status == "ended"

    @rule(pick=st.integers(0, 99), to=st.none() | st.integers(0, 99), to_an_available_agent=st.booleans())
    def transfer(self, pick: int, to: int | None, to_an_available_agent: bool) -> None:
        """To the best agent (None), to a named one, or to one the admin sees available (the
        console lists them): the last way reaches the transaction far more often."""
        before = self._pick(self._active_sessions(), pick)
        if before is None:
            return
        targets = self.agent_ids
        if to_an_available_agent:
            at = clock.epoch()
            targets = [a.agent_id for a in read_snapshot().agents.values()
                       if is_available(a, at) and a.agent_id != before.agent_id] or targets
        to_agent = None if to is None else self._pick(sorted(targets), to)
        try:
            outcome = assignment.transfer(before.session_id, to_agent, by_user="admin")
        except KefuError as refused:
            event(f"transfer refused: {refused.code}")
            after = SessionModel.get(before.session_id, consistent_read=True)
            assert (after.status, after.agent_id) == (before.status, before.agent_id), "a refused transfer moved"
            return
        event("transfer: done")
        if to_agent is not None:
            assert outcome.agent_id == to_agent
        assert outcome.agent_id != before.agent_id
        stored = SessionModel.get(before.session_id, consistent_read=True)
        assert (stored.status, stored.agent_id) == ("active", outcome.agent_id)

    @rule(pick=st.integers(0, 99))
    def customer_without_an_agent_cannot_be_released(self, pick: int) -> None:
        visitor_id = self._pick(VISITORS, pick)
        if assignment.get_assignment(visitor_id) is not None:
            return
        with pytest.raises(NotFound):
            assignment.release_customer(visitor_id, ended_by="agent")

    # --- time and the sweep --------------------------------------------------------------------

    @precondition(lambda self: self.advanced < MAX_ADVANCE)
    @rule(seconds=st.sampled_from(JUMPS), disconnects_arrive=st.booleans())
    def time_passes(self, seconds: int, disconnects_arrive: bool) -> None:
        """The clock jumps; API Gateway closes every socket whose client stayed silent past its
        idle timeout (its ``$disconnect`` may or may not arrive)."""
        clock.advance(seconds)
        self.advanced += seconds
        now = clock.epoch()
        for open_sockets in self.sockets.values():
            for connection_id in [c for c in open_sockets if now - self.heard_at[c] > GATEWAY_IDLE_TIMEOUT]:
                open_sockets.remove(connection_id)
                if disconnects_arrive:
                    desk.disconnect(connection_id)
                event(f"idle socket closed: {'$disconnect' if disconnects_arrive else 'silent'}")

    @precondition(lambda self: self.sweeps < MAX_SWEEPS)
    @rule()
    def sweep(self) -> None:
        self.sweeps += 1
        report = assignment.cleanup()
        event(f"sweep: {'changed' if report.counts_fixed or report.agents_offline else 'no change'}")

    @precondition(lambda self: self.quiescences < MAX_QUIESCENCES)
    @rule()
    def quiet_moment(self) -> None:
        self.quiescences += 1
        self.check_quiescence()

    def check_quiescence(self) -> None:
        """Nobody acts for a while: the indexes catch up and the sweep runs, twice (a sweep reads
        indexes right after its own writes); then every promise holds, the index-dependent ones too."""
        for _ in range(2):
            settle()
            assignment.cleanup()
        settle()
        snapshot = read_snapshot()
        violations = quiescent_violations(snapshot, assignment.queue_view(), self.allowance)
        assert not violations, "after quiescence:\n" + describe(violations)

    def teardown(self) -> None:
        try:
            self.check_quiescence()
        finally:
            clock.reset()

    # --- after every step ----------------------------------------------------------------------

    @invariant()
    def every_open_socket_hears_what_its_owner_is_sent(self) -> None:
        log = self.sink.since(0)
        received: dict[str, set[str]] = {}
        for sequence, connection_id, frame in log:
            if sequence >= self.opened_at.get(connection_id, sequence + 1):
                received.setdefault(connection_id, set()).add(desk.frame_key(frame))
        deaf = []
        for sequence, connection_id, frame in log:
            if frame.get("type") not in TO_THE_OWNER:
                continue
            owners = _named(frame) | ({self.owner[connection_id]} if connection_id in self.owner else set())
            for user_id in owners:
                for socket in self.sockets.get(user_id) or []:
                    if self.opened_at[socket] <= sequence and desk.frame_key(frame) not in received.get(socket, ()):
                        got = [f for q, c, f in log if c == socket]
                        deaf.append(f"open socket {socket} of {user_id} (opened at {self.opened_at[socket]}) "
                                    f"did not get #{sequence} {frame}; it got {got}")
        assert not deaf, describe(deaf)

    @invariant()
    def every_promise_holds(self) -> None:
        errors = self.sink.take_errors()
        assert not errors, f"internal errors answered to sockets: {errors}"
        snapshot = read_snapshot()
        violations = every_violation(snapshot, self.allowance)
        assert not violations, describe(violations)
        for agent_id, agent in snapshot.agents.items():
            # Customers above capacity who leave never come back as slack.
            self.allowance[agent_id] = max(0, min(self.allowance.get(agent_id, 0),
                                                  int(agent.active_count) - int(agent.max_concurrent)))


AssignmentMachine.TestCase.settings = settings(
    max_examples=10,
    stateful_step_count=25,
    deadline=None,
    derandomize=True,  # the same examples every run; the backend's own seed does the rest
    # No shrinking: on the realistic backend a step's outcome depends on its random lag and
    # conflicts, so a shrunk sequence rarely fails the same way and shrinking outlives any budget.
    # The failing example is reported step by step as generated, with the backend's seed.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
TestAssignment = AssignmentMachine.TestCase


def test_the_machine_hears_a_sleeping_laptop_left_alone_when_the_phone_closes(monkeypatch) -> None:
    """The oracle on pushes, on the sequence that once left a socket deaf (a silent socket pruned
    when its owner's other socket closed, and never added back by its own frames)."""
    monkeypatch.setattr(f"{__name__}.event", lambda *_: None)  # outside Hypothesis: nothing to record
    state = AssignmentMachine()
    state.open_the_desk(staff=[(3, "online")])  # one agent: a laptop and a phone
    state.time_passes(seconds=40, disconnects_arrive=True)  # past the heartbeat window
    state.consoles_ping(silent=set())  # the phone speaks; the laptop sleeps
    state.agent_closes_a_socket(pick=0, which=1, silently=False)  # the phone closes
    state.consoles_ping(silent=set())  # the laptop wakes
    state.customer_asks_for_an_agent("v_0")
    state.every_open_socket_hears_what_its_owner_is_sent()
    state.every_promise_holds()
    state.teardown()
