"""Frames through the deployed WebSocket handlers (API Gateway events in, ``@connections`` posts
out): what one frame costs its sender, and that what a container remembers between frames never
makes an answer wrong (the rate limit across containers, a token revoked elsewhere, a session that
changed hands)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

import app
from chalicelib.config import get_config, reload_config
from chalicelib.models import ConnectionModel, VisitorModel
from chalicelib.services import assignment, connections, container, session_lists
from tests import events, faults
from tests.concurrency.desk import PushSink, pushes_to_sink

_sockets = itertools.count(1)
STATISTICS = ("ws_stats", "metrics")  # merged at most once a second: not the frame's own cost


@pytest.fixture
def sink() -> Iterator[PushSink]:
    with pushes_to_sink() as pushed:
        yield pushed


@pytest.fixture
def budget(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("KEFU_WS_RATE_LIMIT", "3")
    monkeypatch.setenv("KEFU_WS_RATE_WINDOW", "60")
    reload_config()
    yield
    monkeypatch.undo()
    reload_config()


def connect(token: str) -> str:
    connection_id = f"frames{next(_sockets):04d}Q="
    answer = app.ws_connect(events.connect_event(connection_id, token), events.context("ws_connect"))
    assert answer["statusCode"] == 200, answer
    return connection_id


def send(connection_id: str, action: str, **fields) -> None:
    app.ws_message(events.message_event(connection_id, {"action": action, **fields}), events.context())


def tables_written(bodies: list[dict]) -> list[str]:
    names = {name: key for key, name in get_config().table_names.items()}
    return [names[body["TableName"]] for body in bodies if names[body["TableName"]] not in STATISTICS]


def test_a_frame_costs_its_sender_one_write_and_its_socket_record_one_write_a_refresh_interval(
        people, sink, time_passes):
    visitor = people.visitor("Ann")
    socket = connect(visitor.token)
    send(socket, "ping")  # this container now knows the socket and the sender's message budget

    with faults.sent("UpdateItem") as updates, faults.sent("GetItem") as reads, faults.sent("PutItem") as puts:
        send(socket, "ping")
    time_passes(connections.refresh_interval())
    with faults.sent("UpdateItem") as later:
        send(socket, "ping")

    assert tables_written(updates) == ["visitors"]  # rate limit, socket back on the set: one write
    assert (reads, puts) == ([], [])
    assert sorted(tables_written(later)) == ["connections", "visitors"]  # the record is refreshed again
    assert [f["type"] for f in sink.frames[socket]] == ["pong"] * 3


def test_the_message_budget_holds_across_containers(people, sink, budget):
    visitor = people.visitor("Ann")
    socket = connect(visitor.token)

    for _ in range(4):
        container.forget_all()  # every frame lands in a container that has never seen this user
        send(socket, "ping")

    answers = [f.get("code", f["type"]) for f in sink.frames[socket]]
    assert answers == ["pong", "pong", "pong", "rate_limited"]


def test_the_message_budget_holds_for_a_container_whose_copy_is_old(people, sink, budget):
    visitor = people.visitor("Ann")
    socket = connect(visitor.token)
    send(socket, "ping")  # this container remembers a budget with one frame taken
    stored = VisitorModel.get(visitor.user_id, consistent_read=True)
    for _ in range(2):  # two frames served by another container meanwhile (3 per 60 s: 20 s each)
        VisitorModel(visitor.user_id).update(actions=[
            VisitorModel.msg_tat.set(float(stored.msg_tat) + 20),
            VisitorModel.msg_version.set(int(stored.msg_version) + 1)])
        stored = VisitorModel.get(visitor.user_id, consistent_read=True)

    send(socket, "ping")

    assert [f.get("code", f["type"]) for f in sink.frames[socket]] == ["pong", "rate_limited"]


def test_a_token_revoked_in_another_container_closes_the_socket_on_its_next_frame(people, sink):
    visitor = people.visitor("Ann")
    socket = connect(visitor.token)
    send(socket, "ping")
    # Another container revoked the tokens: this one's caches were not told.
    VisitorModel(visitor.user_id).update(actions=[VisitorModel.token_gen.add(1)])

    send(socket, "ping")

    assert [f["type"] for f in sink.frames[socket]] == ["pong", "disconnected", "error"]
    assert sink.frames[socket][1]["reason"] == "tokens_revoked"
    assert ConnectionModel.count(socket) == 0


def test_a_message_follows_its_session_to_the_agent_it_was_transferred_to(people, sink):
    first = people.agent("first", online=True)
    visitor = people.visitor("Ann")
    customer = connect(visitor.token)
    first_socket = connect(first.token)
    send(customer, "start_session")
    session_id = session_lists.own_sessions(visitor.principal)[0].session_id
    send(customer, "send_message", session_id=session_id, client_msg_id="m1", text="hello")
    second = people.agent("second", online=True)
    second_socket = connect(second.token)
    # Moved by another container: the customer's container still knows the first agent.
    assignment.transfer(session_id, second.user_id, by_user=first.user_id)

    send(customer, "send_message", session_id=session_id, client_msg_id="m2", text="still there?")

    copies = {socket: [f["message"]["text"] for f in sink.frames[socket]
                       if f["type"] == "message.new" and f["message"]["sender"]["type"] != "system"]
              for socket in (first_socket, second_socket)}  # the transcript's lines aside
    assert copies == {first_socket: ["hello"], second_socket: ["still there?"]}
    assert [f["type"] for f in sink.frames[customer] if f["type"] == "message.ack"] == ["message.ack"] * 2
