"""Limits through the real local stack: one message budget per user across REST and WebSocket
(invalid frames included), sockets per user, and bad frames answered with error frames."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from chalicelib.models import ConnectionModel, VisitorModel
from devstack import Stack
from tests.e2e.protocol_helpers import Connect, Conversation, api, open_conversation, sign_up_visitor


@pytest.fixture
def chat(stack: Stack, fresh: None, connect: Connect) -> Conversation:
    """An assigned conversation whose visitor starts with an unspent message budget (opening it
    took a few frames)."""
    conversation = open_conversation(stack, connect)
    # The budget lives on the visitor's item; a new version makes every container read it again.
    # Set, not added: a write the simulated DynamoDB answers with a 500 is then safe to send again.
    version = VisitorModel.get(conversation.visitor.id, consistent_read=True).msg_version or 0
    VisitorModel(conversation.visitor.id).update(actions=[VisitorModel.msg_tat.remove(),
                                                          VisitorModel.msg_version.set(int(version) + 1)])
    return conversation


def test_rest_and_websocket_sends_share_one_budget_per_user(
        stack: Stack, chat: Conversation, settings: Callable[..., None]) -> None:
    settings(KEFU_WS_RATE_LIMIT=5, KEFU_WS_RATE_WINDOW=3000)  # no refill within the test
    rest = [api(stack, "POST", f"/api/sessions/{chat.session_id}/messages", chat.visitor.token,
                json={"text": f"r{n}", "client_msg_id": f"r{n}"}).status_code for n in range(3)]
    for n in range(3):
        chat.visitor_socket.send("send_message", session_id=chat.session_id, client_msg_id=f"w{n}",
                                 text=f"w{n}")
    replies = [chat.visitor_socket.expect(("message.ack", "error")) for _ in range(3)]

    assert rest == [201, 201, 201]
    assert [r["type"] for r in replies] == ["message.ack", "message.ack", "error"]
    assert replies[-1]["code"] == "rate_limited"
    assert 500 < replies[-1]["retry_after"] <= 600  # like Retry-After: one send back every 3000 s / 5
    refused = api(stack, "POST", f"/api/sessions/{chat.session_id}/messages", chat.visitor.token,
                  json={"text": "late", "client_msg_id": "late"})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1


def test_invalid_frames_count_against_the_limit(stack: Stack, chat: Conversation,
                                                 settings: Callable[..., None]) -> None:
    settings(KEFU_WS_RATE_LIMIT=4, KEFU_WS_RATE_WINDOW=3000)  # no refill within the test
    for _ in range(4):
        chat.visitor_socket.send_raw("not json")
    errors = [chat.visitor_socket.expect("error")["code"] for _ in range(4)]
    chat.visitor_socket.send("ping")

    assert errors == ["invalid_json"] * 4
    assert chat.visitor_socket.expect("error")["code"] == "rate_limited"


def test_a_user_may_hold_only_so_many_sockets(stack: Stack, fresh: None, connect: Connect,
                                               settings: Callable[..., None]) -> None:
    settings(KEFU_MAX_SOCKETS_VISITOR=2)
    visitor = sign_up_visitor(stack, "Many")
    first, second = connect(visitor), connect(visitor)

    with pytest.raises(InvalidStatus) as refused:
        connect(visitor)

    assert refused.value.response.status_code == 429
    assert first.ping()["type"] == second.ping()["type"] == "pong"


def test_concurrent_connects_cannot_pass_the_socket_cap(stack: Stack, fresh: None, ws_connect: Callable[..., Any],
                                                        settings: Callable[..., None]) -> None:
    settings(KEFU_MAX_SOCKETS_VISITOR=10)
    visitor = sign_up_visitor(stack, "Crowd")

    def attempt(_: int) -> int:
        try:
            ws_connect(visitor.token)
        except InvalidStatus as e:
            return e.response.status_code
        return 101

    with ThreadPoolExecutor(max_workers=30) as pool:
        outcomes = list(pool.map(attempt, range(30)))

    assert sorted(outcomes).count(101) == 10 and outcomes.count(429) == 20
    assert len(VisitorModel.get(visitor.id, consistent_read=True).socket_ids) == 10


def test_a_socket_certainly_closed_frees_its_place_under_the_cap(stack: Stack, fresh: None, connect: Connect,
                                                                  settings: Callable[..., None]) -> None:
    settings(KEFU_MAX_SOCKETS_VISITOR=2)
    visitor = sign_up_visitor(stack, "Phone")
    first, second = connect(visitor), connect(visitor)
    ConnectionModel(first.connection_id).delete()  # its record expired (TTL); $disconnect never came

    third = connect(visitor)

    assert third.ping()["type"] == second.ping()["type"] == "pong"


def test_a_deeply_nested_frame_gets_an_error_frame_not_a_crash(stack: Stack, chat: Conversation) -> None:
    chat.visitor_socket.send_raw("[" * 10_000 + "]" * 10_000)

    assert chat.visitor_socket.expect("error")["code"] == "invalid_json"
    assert chat.visitor_socket.ping()["type"] == "pong"


def test_a_lone_surrogate_client_msg_id_gets_an_error_frame(stack: Stack, chat: Conversation) -> None:
    frame = json.dumps({"action": "send_message", "session_id": chat.session_id, "text": "hi",
                        "client_msg_id": "\ud800"})

    chat.visitor_socket.send_raw(frame)

    error = chat.visitor_socket.expect("error")
    assert error["code"] == "invalid_json"
    assert chat.visitor_socket.ping()["type"] == "pong"


def _ws_counts(stack: Stack, admin: str) -> dict[str, dict]:
    response = api(stack, "GET", "/api/metrics/performance?window=5", admin)
    assert response.status_code == 200
    return response.json()["websocket"]


def test_websocket_actions_are_counted_per_action_with_their_errors(
        stack: Stack, admin: str, chat: Conversation) -> None:
    before = _ws_counts(stack, admin)  # helpers' sockets may ping meanwhile: use other actions
    for _ in range(3):
        chat.visitor_socket.request("list_sessions", "sessions")
    chat.visitor_socket.send("get_session", session_id="s_nope")
    chat.visitor_socket.expect("error")

    after = _ws_counts(stack, admin)

    def grew(action: str, key: str) -> int:
        return after.get(action, {}).get(key, 0) - before.get(action, {}).get(key, 0)

    assert (grew("list_sessions", "requests"), grew("list_sessions", "errors_4xx")) == (3, 0)
    assert (grew("get_session", "requests"), grew("get_session", "errors_4xx")) == (1, 1)
    assert after["list_sessions"]["p50_ms"] is not None


def test_new_conversations_are_limited_per_source_address(stack: Stack, fresh: None, connect: Connect,
                                                          settings: Callable[..., None]) -> None:
    settings(KEFU_CONVERSATIONS_PER_ADDRESS=1)
    first, second = (connect(sign_up_visitor(stack, name)) for name in ("One", "Two"))

    first.send("start_session", topic="billing")
    second.send("start_session", topic="billing")
    answers = [peer.expect(("session.queued", "session.assigned", "error")) for peer in (first, second)]

    refused = [a for a in answers if a["type"] == "error"]
    assert len(refused) == 1, answers  # the two race for the address's one slot: exactly one wins
    assert (refused[0]["code"], refused[0]["action"]) == ("rate_limited", "start_session")
