"""One retry layer that sees every attempt (issue #18, part 2).

Faults are injected per HTTP attempt, below botocore's retry handler, where AWS refuses requests
and loses answers (``tests/faults.py``). botocore sends each request once, so kefu's own retries
see every attempt: a write whose answer was lost is recognised as this call's own when its retry
meets it, an ``ADD`` is never applied twice, a throttled transaction is retried instead of being
read as a business outcome, and every loop that lost a race waits with jitter before its next round.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from chalicelib import clock, push
from chalicelib.config import get_config
from chalicelib.errors import Unavailable
from chalicelib.models import AgentModel, AssignmentModel, CounterModel, MessageModel, SessionModel, VisitorModel
from chalicelib.models.base import RETRY_ATTEMPTS
from chalicelib.services import (
    agents,
    assignment,
    chat,
    connections,
    performance,
    revocation,
    tokens,
    visitors,
    wsstats,
)
from chalicelib.services.assignment import presence
from chalicelib.services.assignment.claims import claim_key
from chalicelib.services.tokens import Principal
from tests import faults
from tests.conftest import simulated_aws


def _agent(name: str, capacity: int = 3) -> str:
    agent = agents.create_agent(name, "password123", name.title(), "agent", capacity)
    assignment.agent_heartbeat(agent.agent_id)
    assignment.set_status(agent.agent_id, "online")
    return agent.agent_id


def _agent_principal(agent_id: str) -> Principal:
    return Principal(agent_id, "agent", "agent", "Agent")


def _agent_socket(agent_id: str) -> str:
    connection_id = f"conn-{agent_id}"
    connections.register(connection_id, _agent_principal(agent_id), None, None)
    assignment.agent_connected(agent_id, connection_id)
    return connection_id


def _visitor(name: str) -> Principal:
    principal = tokens.verify(visitors.sign_up(name, None)["token"])
    connections.register(f"conn-{principal.user_id}", principal, None, None)
    connections.add_visitor_socket(principal.user_id, f"conn-{principal.user_id}")
    return principal


def _agent_item(agent_id: str) -> AgentModel:
    return AgentModel.get(agent_id, consistent_read=True)


def _on_table(key: str, setting: str | None = None):
    """Requests on table ``key`` (that set the attribute ``setting``, when given)."""
    name = get_config().table_name(key)
    return lambda body: body.get("TableName") == name and (
        setting is None or setting in (body.get("ExpressionAttributeNames") or {}).values())


class _Raw:
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield b""


@contextlib.contextmanager
def posted() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Frames posted to ``@connections`` inside the block, as (connection id, frame); each post is
    answered 200 at the HTTP boundary (no gateway runs in unit tests)."""
    frames: list[tuple[str, dict[str, Any]]] = []
    client = push.management_client()

    def capture(request: Any, **_: Any) -> AWSResponse:
        frames.append((request.url.rsplit("/", 1)[-1], json.loads(request.body)))
        return AWSResponse(request.url, 200, {}, _Raw())

    client.meta.events.register_first("before-send.apigatewaymanagementapi.PostToConnection", capture)
    try:
        yield frames
    finally:
        client.meta.events.unregister("before-send.apigatewaymanagementapi.PostToConnection", capture)


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every backoff wait kefu makes, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(clock, "sleep", recorded.append)
    return recorded


# --- botocore sends once; kefu retries every attempt ---------------------------------------------


def test_a_read_throttled_more_often_than_botocore_would_retry_still_answers(tables):
    agent_id = _agent("alice")
    visitor = _visitor("Ann")
    session_id = chat.start_session(visitor).session.session_id
    chat.send_message(visitor, session_id, "m1", "hello")

    with faults.refuse("Query", "ProvisionedThroughputExceededException", times=5,
                       when=_on_table("messages")) as f:
        page = chat.history(_agent_principal(agent_id), session_id)

    assert f.injected == {"Query": 5}
    assert [m["text"] for m in page["messages"] if m["sender"]["type"] != "system"] == ["hello"]


def test_a_query_refused_on_a_later_page_reads_on_from_that_page(tables):
    _agent("alice")
    visitor = _visitor("Ann")
    session_id = chat.start_session(visitor).session.session_id
    for n in range(5):
        chat.send_message(visitor, session_id, f"m{n}", f"hello {n}")

    with faults.refuse("Query", "ThrottlingException", times=5,
                       when=lambda body: "ExclusiveStartKey" in body) as f:
        texts = [m.text for m in MessageModel.query(session_id, consistent_read=True, page_size=2)
                 if m.sender_type != "system"]  # the transcript's "joined" line is a message too

    assert f.injected == {"Query": 5}
    assert texts == [f"hello {n}" for n in range(5)]


def test_a_rating_answered_500_after_it_was_stored_is_recognised_as_done(tables):
    _agent("alice")
    visitor = _visitor("Ann")
    session_id = chat.start_session(visitor).session.session_id
    chat.end_session(visitor, session_id)

    with faults.lose_response("UpdateItem", times=1, answer="500", when=_on_table("sessions")) as f:
        chat.rate_session(visitor, session_id, 4, "ok")

    assert f.injected == {"UpdateItem": 1}
    stored = SessionModel.get(session_id, consistent_read=True)
    assert (stored.rating, stored.rating_comment) == (4, "ok")


def test_ending_an_orphan_session_whose_answer_was_lost_ends_it_tells_both_and_frees_the_claim(tables):
    agent_id = _agent("alice")
    agent_socket = _agent_socket(agent_id)
    visitor = _visitor("Ann")
    session_id = chat.start_session(visitor).session.session_id
    AssignmentModel(visitor.user_id).delete()  # a crash between writes left it without assignment

    with faults.lose_response("UpdateItem", times=1, when=_on_table("sessions", "ended_at")) as f, \
            posted() as frames:
        ended = chat.end_session(visitor, session_id)

    assert f.injected == {"UpdateItem": 1}
    assert ended.status == "ended"
    told = {connection for connection, frame in frames if frame["type"] == "session.ended"}
    assert told == {agent_socket, f"conn-{visitor.user_id}"}
    assert CounterModel.count(claim_key(visitor.user_id)) == 0
    assert chat.open_session_of(visitor.user_id) is None


def test_an_agent_back_online_whose_answer_was_lost_is_noted_as_entering_the_pool(tables):
    agent = agents.create_agent("alice", "password123", "Alice", "agent", 3)
    assignment.agent_heartbeat(agent.agent_id)

    with faults.lose_response("TransactWriteItems", times=1) as f:  # the status with the roster of who is online
        written = assignment.set_status(agent.agent_id, "online")

    assert f.injected == {"TransactWriteItems": 1}
    assert written.status == "online" and written.pool is not None
    assert [a.agent_id for a in assignment.online_agents()] == [agent.agent_id]


def test_a_count_repair_whose_answer_was_lost_is_reported(tables):
    agent_id = _agent("alice")
    AgentModel(agent_id).update(actions=[AgentModel.active_count.set(2)])  # drifted: no customer

    with faults.lose_response("UpdateItem", times=1, when=_on_table("agents", "active_count")) as f:
        report = assignment.cleanup()

    assert f.injected == {"UpdateItem": 1}
    assert report.counts_fixed == [{"agent_id": agent_id, "was": 2, "now": 0}]
    assert int(_agent_item(agent_id).active_count) == 0


def test_an_agent_set_offline_for_silence_is_told_once_though_the_answer_was_lost(tables):
    agent_id = _agent("alice")
    socket = _agent_socket(agent_id)
    assignment.set_status(agent_id, "offline", reason=presence.INACTIVE)

    with faults.lose_response("UpdateItem", times=1, when=_on_table("agents", "offline_reason")) as f, \
            posted() as frames:
        assignment.agent_heartbeat(agent_id)

    assert f.injected == {"UpdateItem": 1}
    assert frames == [(socket, {"type": "agent.presence", "status": "offline", "reason": presence.INACTIVE})]


# --- ADDs are applied once --------------------------------------------------------------------------


def test_twenty_websocket_counts_with_half_the_answers_lost_count_twenty(tables):
    before = wsstats.totals(5)["frames_received"]

    with simulated_aws("off", lost_response=0.5, throttle=0.05, seed=18):
        for _ in range(20):
            wsstats.record(frames_received=1)

    assert wsstats.totals(5)["frames_received"] - before == 20


def test_twenty_request_timings_with_half_the_answers_lost_count_twenty(tables):
    with simulated_aws("off", lost_response=0.5, throttle=0.05, seed=18):
        for _ in range(20):
            performance.record("rest", "retry-probe", 0.01, 200)
            performance.flush()
    performance.flush()  # what a refusal kept for the next flush

    assert performance.report(5)["rest"]["retry-probe"]["requests"] == 20


def test_revoking_tokens_whose_answer_was_lost_raises_the_generation_once(tables):
    visitor = _visitor("Ann")

    with faults.lose_response("UpdateItem", times=1, when=_on_table("visitors", "token_gen")) as f:
        generation = revocation.revoke("visitor", visitor.user_id)

    assert f.injected == {"UpdateItem": 1}
    assert generation == int(VisitorModel.get(visitor.user_id, consistent_read=True).token_gen) == 1
    assert not revocation.is_current(visitor)


def test_a_password_change_whose_answer_was_lost_revokes_once_and_is_answered_as_written(tables):
    agent_id = _agent("alice")

    with faults.lose_response("UpdateItem", times=1, when=_on_table("agents", "token_gen")) as f:
        change = agents.update_profile(agent_id, display_name="Alice B", password="new-password-1")

    assert f.injected == {"UpdateItem": 1}
    assert change.revokes_tokens and change.agent.display_name == "Alice B"
    assert int(change.agent.token_gen) == int(_agent_item(agent_id).token_gen) == 1
    assert agents.authenticate("alice", "new-password-1")["agent"]["display_name"] == "Alice B"


def test_a_role_change_whose_answer_was_lost_and_stamp_written_over_still_says_it_revoked(tables):
    agent_id = _agent("alice")

    def presence_write() -> None:  # a socket opening or closing also stamps the agent
        AgentModel(agent_id).update(actions=[AgentModel.updated_at.set(clock.iso())])

    with faults.lose_response("UpdateItem", times=1, when=_on_table("agents", "token_gen")) as lost, \
            faults.before("UpdateItem", presence_write, when=lambda params: bool(lost.injected)
                          and _on_table("agents", "token_gen")(params)) as landed:
        change = agents.update_profile(agent_id, role="admin")

    assert lost.injected == {"UpdateItem": 1} and landed.injected == {"UpdateItem": 1}
    assert change.revokes_tokens  # so the route closes the old role's sockets
    assert change.agent.role == "admin" and int(_agent_item(agent_id).token_gen) == 1


def test_disabling_an_agent_whose_answer_was_lost_revokes_once(tables):
    agent_id = _agent("alice")

    with faults.lose_response("UpdateItem", times=1, when=_on_table("agents", "token_gen")) as f:
        agents.set_disabled(agent_id, True)

    assert f.injected == {"UpdateItem": 1}
    stored = _agent_item(agent_id)
    assert stored.disabled and int(stored.token_gen) == 1


def test_a_password_change_that_meets_a_concurrent_revocation_still_changes_the_password(tables):
    agent_id = _agent("alice")

    with faults.before("UpdateItem", lambda: revocation.revoke("agent", agent_id), times=1,
                       when=_on_table("agents", "password_hash")) as f:
        change = agents.update_profile(agent_id, password="new-password-1")

    assert f.injected == {"UpdateItem": 1}
    assert int(change.agent.token_gen) == 2  # the concurrent revocation, then this change's
    assert agents.authenticate("alice", "new-password-1")["agent"]["agent_id"] == agent_id


# --- throttled transactions are retried, never a business outcome ----------------------------------


def test_a_throttled_sign_up_of_an_agent_is_retried_not_read_as_a_taken_username(tables):
    with faults.cancel("ThrottlingError", times=2) as f:
        created = agents.create_agent("alice", "password123", "Alice", "agent", 3)

    assert f.injected == {"TransactWriteItems": 2}
    assert agents.find_by_username("alice").agent_id == created.agent_id


def test_a_throttled_accept_is_retried_not_read_as_a_full_agent(tables):
    agent_id = _agent("alice", capacity=2)
    assignment.set_status(agent_id, "away")  # accepts by hand only
    waiting = chat.start_session(_visitor("Ann")).session

    with faults.cancel("ProvisionedThroughputExceeded", times=2) as f:
        outcome = assignment.accept_session(waiting.session_id, agent_id)

    assert f.injected == {"TransactWriteItems": 2}
    assert outcome.agent_id == agent_id
    assert int(_agent_item(agent_id).active_count) == 1


def test_a_waiting_customer_who_leaves_during_throttling_leaves_the_queue(tables):
    visitor = _visitor("Ann")
    waiting = chat.start_session(visitor).session

    with faults.cancel("ThrottlingError", times=4) as f:
        ended = chat.end_session(visitor, waiting.session_id)

    assert f.injected == {"TransactWriteItems": 4}
    assert ended.status == "ended"
    assert assignment.queue_length() == 0


def test_a_transaction_throttled_on_every_attempt_is_unavailable_and_stores_nothing(tables):
    with faults.cancel("ThrottlingError", times=RETRY_ATTEMPTS), pytest.raises(Unavailable):
        agents.create_agent("alice", "password123", "Alice", "agent", 3)

    assert agents.find_by_username("alice") is None


# --- ClientRequestToken: new after a refusal, the same after an ambiguous failure ---------------------


def _tokens(bodies: list[dict[str, Any]]) -> list[str]:
    return [body["ClientRequestToken"] for body in bodies]


def test_a_transaction_refused_for_a_conflict_is_sent_again_with_a_new_token(tables):
    with faults.sent("TransactWriteItems") as bodies, faults.cancel("TransactionConflict", times=2):
        agents.create_agent("alice", "password123", "Alice", "agent", 3)

    assert len(bodies) == 3
    assert len(set(_tokens(bodies))) == 3


def test_a_transaction_keeps_its_token_after_a_lost_answer_even_when_a_later_attempt_is_throttled(tables):
    with faults.sent("TransactWriteItems") as bodies, faults.lose_response("TransactWriteItems", times=1), \
            faults.cancel("ThrottlingError", times=1):
        created = agents.create_agent("alice", "password123", "Alice", "agent", 3)

    assert len(bodies) == 3 and len(set(_tokens(bodies))) == 1  # the repeat is answered with the first success
    assert agents.find_by_username("alice").agent_id == created.agent_id


# --- every round loop waits with jitter before its next round ----------------------------------------


def test_an_agent_update_that_lost_a_race_waits_before_its_next_round(tables, waits):
    agent_id = _agent("alice")
    del waits[:]

    capacities = iter([4, 5])

    def capacity_changed() -> None:
        AgentModel(agent_id).update(actions=[AgentModel.max_concurrent.set(next(capacities))])

    with faults.before("TransactWriteItems", capacity_changed, times=2) as f:  # leaving online: with the roster
        assignment.set_status(agent_id, "away")

    assert f.injected == {"TransactWriteItems": 2}
    assert _agent_item(agent_id).status == "away"
    assert len(waits) == 2 and all(w >= 0 for w in waits)


def test_a_release_that_lost_a_race_on_the_agent_waits_before_its_next_round(tables, waits):
    agent_id = _agent("alice")
    visitor = _visitor("Ann")
    chat.start_session(visitor)
    del waits[:]

    def agent_stepped_away() -> None:
        AgentModel(agent_id).update(actions=[AgentModel.status.set("away")])

    with faults.before("TransactWriteItems", agent_stepped_away, times=1) as f:
        assignment.release_customer(visitor.user_id, ended_by=agent_id)

    assert f.injected == {"TransactWriteItems": 1}
    assert int(_agent_item(agent_id).active_count) == 0
    assert len(waits) == 1


def test_an_end_that_lost_a_race_waits_before_its_next_round(tables, waits):
    visitor = _visitor("Ann")
    waiting = chat.start_session(visitor).session
    del waits[:]

    def ticket_changed() -> None:
        SessionModel(waiting.session_id).update(actions=[SessionModel.queue_ticket.set(999)])

    with faults.before("TransactWriteItems", ticket_changed, times=1) as f:
        ended = chat.end_session(visitor, waiting.session_id)

    assert f.injected == {"TransactWriteItems": 1}
    assert ended.status == "ended"
    assert len(waits) == 1


def test_an_offer_that_lost_every_race_on_an_agent_waits_before_its_next_round(tables, waits):
    busy = _agent("busy")
    other = _agent("other")
    AgentModel(other).update(actions=[AgentModel.load_key.set("9999")])  # ranked last: busy is offered first
    del waits[:]

    def busy_went_away() -> None:
        AgentModel(busy).update(actions=[AgentModel.status.set("away")])

    with faults.before("TransactWriteItems", busy_went_away, times=1) as f:
        state = chat.start_session(_visitor("Ann"))

    assert f.injected == {"TransactWriteItems": 1}
    assert state.session.agent_id == other
    assert len(waits) == 1


def test_a_transfer_that_lost_the_race_for_its_target_waits_before_its_next_round(tables, waits):
    source = _agent("source")
    visitor = _visitor("Ann")
    session_id = chat.start_session(visitor).session.session_id
    target = _agent("target")
    del waits[:]

    def target_capacity_changed() -> None:
        AgentModel(target).update(actions=[AgentModel.max_concurrent.set(4)])

    with faults.before("TransactWriteItems", target_capacity_changed, times=1) as f:
        outcome = assignment.transfer(session_id, target, by_user=source)

    assert f.injected == {"TransactWriteItems": 1}
    assert outcome.agent_id == target
    assert len(waits) == 1


def test_an_open_that_lost_the_claim_to_another_start_waits_and_returns_that_session(tables, waits):
    visitor = _visitor("Ann")
    other: list[str] = []

    def started_elsewhere() -> None:
        other.append(chat.start_session(visitor).session.session_id)

    with faults.before("TransactWriteItems", started_elsewhere, times=1) as f:
        state = chat.start_session(visitor)

    assert f.injected == {"TransactWriteItems": 1}
    assert [state.session.session_id] == other
    assert len(waits) == 1


# --- a capped socket join whose answer was lost -----------------------------------------------------


def test_a_visitors_last_allowed_socket_whose_join_answer_was_lost_is_joined_not_refused(tables):
    visitor = _visitor("crowd")  # holds one socket
    cap = 2

    with faults.lose_response("UpdateItem", times=1, when=_on_table("visitors", "socket_ids")) as f:
        joined = connections.add_visitor_socket(visitor.user_id, "conn-second", cap)

    assert f.injected == {"UpdateItem": 1}
    assert joined  # the retry found the set full with this very socket in it
    assert connections.sockets_of(visitor.user_id, "visitor") == {f"conn-{visitor.user_id}", "conn-second"}


def test_an_agents_last_allowed_socket_whose_join_answer_was_lost_is_joined_not_refused(tables):
    agent_id = _agent("alice")
    _agent_socket(agent_id)  # holds one socket
    connections.register("conn-second", _agent_principal(agent_id), None, None)

    with faults.lose_response("UpdateItem", times=1, when=_on_table("agents", "socket_ids")) as f:
        joined = assignment.agent_connected(agent_id, "conn-second", cap=2)

    assert f.injected == {"UpdateItem": 1}
    assert joined
    assert connections.sockets_of(agent_id, "agent") == {f"conn-{agent_id}", "conn-second"}


def test_an_agent_whose_released_customer_ends_at_once_still_hears_the_release(tables):
    agent_id = _agent("alice")
    agent_socket = _agent_socket(agent_id)
    visitor = _visitor("quick")
    session = chat.start_session(visitor).session
    assert SessionModel.get(session.session_id, consistent_read=True).agent_id == agent_id
    sessions_table = get_config().table_name("sessions")
    reads: list[int] = []

    def second_read_of_the_session(body: dict[str, Any]) -> bool:
        if body.get("TableName") != sessions_table or body.get("Key", {}).get("session_id", {}).get("S") \
                != session.session_id:
            return False
        reads.append(1)
        return len(reads) == 2  # the read after the release committed

    with faults.before("GetItem", lambda: chat.end_session(visitor, session.session_id),
                       when=second_read_of_the_session) as f, posted() as frames:
        assignment.set_status(agent_id, "offline")

    assert f.injected == {"GetItem": 1}
    assert SessionModel.get(session.session_id, consistent_read=True).status not in ("queued", "active")
    told = [frame for to, frame in frames if to == agent_socket and frame.get("session_id") == session.session_id]
    assert [(frame["type"], frame["version"]) for frame in told] == [("session.released", 2)]
