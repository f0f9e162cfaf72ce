"""The sweep finishes within its Lambda whatever it meets: every loop stops at the deadline, one
item never carries it past the deadline by more than one bounded step, a run stopped (or killed)
resumes where it stopped, and a frame landing while the sweep decides wins over its write."""

from __future__ import annotations

import json

from chalicelib.config import get_config
from chalicelib.models import AgentModel, CounterModel
from chalicelib.services import agents, assignment, chat, connections, tokens, visitors
from chalicelib.services.assignment.roster import ROSTER
from chalicelib.services.tokens import Principal
from tests import faults

PLENTY_MS = 600_000


class Killed(BaseException):
    """The Lambda runtime ending the invocation at its timeout: nothing of ours catches it."""


class FakeLambdaTime:
    """A Lambda context's ``get_remaining_time_in_millis``: plenty of time for ``checks`` calls,
    then none (``kill``: the invocation is killed at that point instead); ``expire()`` runs the
    time out at once."""

    def __init__(self, checks: int | None = None, kill: bool = False) -> None:
        self.checks = checks
        self.kill = kill
        self.calls = 0

    def expire(self) -> None:
        self.checks = self.calls

    def __call__(self) -> int:
        self.calls += 1
        if self.checks is None or self.calls <= self.checks:
            return PLENTY_MS
        if self.kill:
            raise Killed
        return 0


def _agent(name: str, capacity: int = 3) -> str:
    agent = agents.create_agent(name, "password123", name.title(), "agent", capacity)
    assignment.agent_heartbeat(agent.agent_id)
    assignment.set_status(agent.agent_id, "online")
    return agent.agent_id


def _visitor(name: str) -> Principal:
    principal = tokens.verify(visitors.sign_up(name, None)["token"])
    connections.register(f"conn-{principal.user_id}", principal, None, None)
    connections.add_visitor_socket(principal.user_id, f"conn-{principal.user_id}")
    return principal


def _agent_item(agent_id: str) -> AgentModel:
    return AgentModel.get(agent_id, consistent_read=True)


def _cursor() -> str | None:
    try:
        return CounterModel.get("sweep-cursor", consistent_read=True).ref
    except CounterModel.DoesNotExist:
        return None


def _fixed(created: list[tuple[str, str]]) -> list[str]:
    return [name for name, agent_id in created if int(_agent_item(agent_id).active_count) == 0]


def _on_agents(body: dict) -> bool:
    return body.get("TableName") == get_config().table_name("agents")


def _checks_before_the_first_agent() -> int:
    """How many deadline checks a sweep makes up to its first agent read (measured on a sweep
    that finds nothing to do)."""
    counting = FakeLambdaTime()
    marks: list[int] = []
    with faults.before("GetItem", lambda: marks.append(counting.calls), times=1, when=_on_agents):
        assignment.cleanup(assignment.Deadline(remaining_ms=counting))
    return marks[0]


# --- the agent walk --------------------------------------------------------------------------------


def test_sweeps_killed_at_their_timeout_still_progress_and_visit_everyone_once(tables, time_passes):
    created = [(f"agent{i:02d}", _agent(f"agent{i:02d}")) for i in range(8)]
    names = [name for name, _ in created]
    budget = _checks_before_the_first_agent() + 3  # room for a visit or two, then the runtime kills it
    for _, agent_id in created:
        AgentModel(agent_id).update(actions=[AgentModel.active_count.set(2)])  # each visit fixes one
    time_passes(get_config().index_settle_seconds)
    for _, agent_id in created:
        assignment.agent_heartbeat(agent_id)
    runs: list[list[str]] = []

    for _ in range(len(created)):
        try:
            assignment.cleanup(assignment.Deadline(remaining_ms=FakeLambdaTime(budget, kill=True)))
        except Killed:
            pass
        runs.append(_fixed(created))
        assert _cursor() == runs[-1][-1]  # saved as it went: the next run starts after it
        if runs[-1] == names:
            break

    # Every run went further than the last, in the walk's order: nobody was visited twice
    # before everyone was visited once.
    assert runs[-1] == names and len(runs) > 1
    assert all(len(later) > len(earlier) for earlier, later in zip(runs, runs[1:], strict=False))
    assert all(run == names[:len(run)] for run in runs)


def test_a_sweep_whose_time_is_up_reads_and_writes_nothing(tables):
    for n in range(3):
        _agent(f"agent{n}")
        chat.start_session(_visitor(f"c{n}"))

    with faults.counted() as calls:
        report = assignment.cleanup(assignment.Deadline(remaining_ms=FakeLambdaTime(0)))

    assert report.complete is False
    assert calls == {}


# --- one item's effects are bounded too -----------------------------------------------------------


def test_an_agent_going_offline_with_many_customers_hands_back_one_step_past_the_deadline(tables, time_passes):
    leaving = _agent("leaving", capacity=10)
    customers = [_visitor(f"c{n}") for n in range(6)]
    for visitor in customers:
        chat.start_session(visitor)
    time_passes(get_config().heartbeat_window_seconds + get_config().presence_grace_seconds + 5)
    for visitor in customers:
        connections.record_frame(f"conn-{visitor.user_id}")
    lambda_time = FakeLambdaTime()

    # The time runs out just as the first customer is handed back (after the status write, which
    # is a transaction too: with the roster of who is online).
    with faults.before("TransactWriteItems", lambda_time.expire, times=1, when=_not_the_status_write):
        first = assignment.cleanup(assignment.Deadline(remaining_ms=lambda_time))

    assert first.agents_offline == [leaving] and first.complete is False
    handed_back = [v for v in customers if assignment.get_assignment(v.user_id) is None]
    assert len(handed_back) == 1

    assignment.cleanup()  # the next run hands back the rest

    assert all(assignment.get_assignment(v.user_id) is None for v in customers)
    assert int(_agent_item(leaving).active_count) == 0
    assert len(assignment.queue_view()) == len(customers)


def test_the_dispatch_after_a_sweep_stops_one_move_past_the_deadline(tables):
    agent_id = _agent("alice", capacity=20)
    assignment.set_status(agent_id, "away")
    waiting = [_visitor(f"w{n}") for n in range(5)]
    for visitor in waiting:
        chat.start_session(visitor)
    with faults.refuse("Query", "ValidationException", times=100, when=_on_sessions):
        assignment.set_status(agent_id, "online")  # its own dispatch fails: five wait beside a free agent
    lambda_time = FakeLambdaTime()

    with faults.before("TransactWriteItems", lambda_time.expire, times=1):
        first = assignment.cleanup(assignment.Deadline(remaining_ms=lambda_time))

    assert first.dispatched == 1 and first.complete is False
    assert int(_agent_item(agent_id).active_count) == 1
    assert assignment.cleanup().dispatched == 4


def _on_sessions(body: dict) -> bool:
    return body.get("TableName") == get_config().table_name("sessions")


# --- a frame landing between the sweep's read and its write --------------------------------------


def _not_the_status_write(body: dict) -> bool:
    return ROSTER not in json.dumps(body)


def _is_offline_write(body: dict) -> bool:
    """The status write that takes an online agent offline: a transaction with the roster."""
    updates = [item["Update"] for item in body.get("TransactItems", []) if "Update" in item]
    return any(u["TableName"] == get_config().table_name("agents") and '"offline"' in json.dumps(
        u.get("ExpressionAttributeValues", {})) for u in updates)


def test_a_frame_landing_between_the_sweeps_read_and_its_offline_write_keeps_the_agent_online(
        tables, time_passes):
    agent_id = _agent("alice")
    customer = _visitor("Ann")
    session = chat.start_session(customer).session
    time_passes(get_config().heartbeat_window_seconds + get_config().presence_grace_seconds + 5)
    connections.record_frame(f"conn-{customer.user_id}")

    with faults.before("TransactWriteItems", lambda: assignment.agent_heartbeat(agent_id), times=1,
                       when=_is_offline_write) as landed:
        report = assignment.cleanup()

    assert landed.injected == {"TransactWriteItems": 1}
    assert report.agents_offline == []
    stored = _agent_item(agent_id)
    assert (stored.status, stored.offline_reason) == ("online", None)
    assert assignment.get_assignment(customer.user_id).session_id == session.session_id
    assert stored.pool is not None  # the frame brought them back to the pool
