"""The chat protocol end to end: real WebSocket clients and HTTP against the local stack.

A visitor and an agent hold a conversation, reconnect, use several tabs, retry sends; every error
code a client can provoke comes back as an error frame on a socket that stays usable; and the
handshake and the REST authorizer turn away bad tokens.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_open

from chalicelib import push
from chalicelib.config import reload_config
from chalicelib.models import ConnectionModel
from chalicelib.services import tokens
from chalicelib.services.tokens import Principal
from devstack import Stack
from tests.concurrency.invariants import settle
from tests.e2e.conftest import abort, wait_for
from tests.e2e.protocol_helpers import (
    Connect,
    Conversation,
    Peer,
    Person,
    SessionView,
    agent_account,
    api,
    before_push,
    create_agent,
    frame_key,
    go_online,
    online_agent,
    open_conversation,
    said,
    set_status,
    sign_up_visitor,
    stored_messages,
)


@pytest.fixture
def chat(stack: Stack, fresh: None, connect: Connect) -> Conversation:
    """A visitor whose new session was assigned to an online agent."""
    return open_conversation(stack, connect)


# ---- a whole conversation ------------------------------------------------------------------------

def test_a_visitor_and_an_agent_hold_a_whole_conversation(stack: Stack, admin: str,
                                                          connect: Connect) -> None:
    agent = create_agent(stack, admin, "Alice")  # by the admin, through the API, then logged in
    agent_socket = go_online(stack, connect, agent)
    visitor = sign_up_visitor(stack, "Victor")
    visitor_socket = connect(visitor)

    # start: both sides are told who they are talking to
    visitor_socket.send("start_session", topic="billing")
    assigned = visitor_socket.expect("session.assigned")
    session_id = assigned["session_id"]
    assert assigned["agent"] == {"id": agent.id, "name": "Alice"}
    told_agent = agent_socket.expect("session.assigned", session_id=session_id)
    assert told_agent["customer"] == {"id": visitor.id, "name": "Victor"}

    # the visitor writes: the sender gets an ack, the agent the message
    visitor_socket.send("send_message", session_id=session_id, client_msg_id="v-1",
                        text="My invoice is wrong")
    ack = visitor_socket.expect("message.ack", client_msg_id="v-1")
    question = ack["message"]
    assert question["session_id"] == session_id
    assert question["text"] == "My invoice is wrong"
    assert question["sender"] == {"type": "visitor", "id": visitor.id, "name": "Victor"}
    assert agent_socket.expect("message.new")["message"] == question

    # typing reaches the other party, both ways
    agent_socket.send("typing", session_id=session_id, is_typing=True)
    typing = visitor_socket.expect("typing", session_id=session_id)
    assert typing["is_typing"] is True
    assert typing["user"]["id"] == agent.id
    visitor_socket.send("typing", session_id=session_id, is_typing=False)
    assert agent_socket.expect("typing", session_id=session_id)["is_typing"] is False

    # the agent replies
    answer = agent_socket.send_message(session_id, "Let me check that for you")
    assert answer["sender"] == {"type": "agent", "id": agent.id, "name": "Alice"}
    assert visitor_socket.expect("message.new")["message"] == answer

    # read receipts: the visitor reads the answer, the agent is told
    visitor_socket.send("mark_read", session_id=session_id, up_to=answer["id"])
    receipt = agent_socket.expect("message.read", session_id=session_id)
    assert receipt["up_to"] == answer["id"]
    assert receipt["reader"]["type"] == "visitor"
    assert receipt["reader"]["id"] == visitor.id
    history = visitor_socket.request("get_history", "history", session_id=session_id)
    assert [m["id"] for m in said(history["messages"])] == [answer["id"], question["id"]]
    assert said(history["messages"])[0]["read_at"]
    assert history["next"] is None

    # the agent ends it: both are told who ended it
    agent_socket.send("end_session", session_id=session_id)
    for socket in (visitor_socket, agent_socket):
        ended = socket.expect("session.ended", session_id=session_id)
        assert ended["ended_by"] == agent.id

    # the visitor rates it, once
    rated = visitor_socket.request("rate_session", "session.rated", session_id=session_id,
                                   rating=5, comment="quick and kind")
    assert rated["session_id"] == session_id
    assert rated["rating"] == 5
    visitor_socket.send("rate_session", session_id=session_id, rating=1)
    visitor_socket.expect_error("conflict", action="rate_session")
    session = api(stack, "GET", f"/api/sessions/{session_id}", visitor.token).json()
    assert (session["status"], session["rating"], session["rating_comment"]) == ("ended", 5, "quick and kind")


def test_history_pages_newest_first_without_gaps_or_duplicates(chat: Conversation) -> None:
    sent = [chat.visitor_socket.send_message(chat.session_id, f"message {n}")["id"] for n in range(1, 26)]

    pages: list[list[str]] = []
    before: str | None = None
    while True:
        cursor = {"before": before} if before else {}
        page = chat.agent_socket.request("get_history", "history", session_id=chat.session_id,
                                         limit=10, **cursor)
        pages.append(page["messages"])
        before = page["next"]
        if before is None:
            break

    assert [len(p) for p in pages] == [10, 10, 6]  # and the line saying the agent joined, first
    assert [m["id"] for m in said([m for p in pages for m in p])] == list(reversed(sent))


def test_text_is_stored_exactly_as_given_up_to_4000_characters(stack: Stack, chat: Conversation) -> None:
    markup = "<script>alert('x')</script> & \"quotes\" 你好 " + "y" * 3950
    text = markup[:4000]

    message = chat.visitor_socket.send_message(chat.session_id, text)

    assert message["text"] == text
    assert [m["text"] for m in stored_messages(stack, chat.agent.token, chat.session_id)] == [text]


# ---- reconnect -------------------------------------------------------------------------------------

def test_a_visitor_who_reconnects_finds_their_open_session_and_its_whole_history(
        stack: Stack, chat: Conversation, connect: Connect) -> None:
    sent = [chat.visitor_socket.send_message(chat.session_id, f"before reconnect {n}")["id"]
            for n in range(5)]
    chat.visitor_socket.client.close()

    again = connect(chat.visitor)

    resumed = again.request("start_session", "session.assigned")
    assert resumed["session_id"] == chat.session_id
    assert resumed["agent"] == {"id": chat.agent.id, "name": chat.agent.name}
    assert again.request("get_session", "session.assigned",
                         session_id=chat.session_id)["session_id"] == chat.session_id
    listed = again.request("list_sessions", "sessions")["sessions"]
    assert [(s["session_id"], s["status"]) for s in listed] == [(chat.session_id, "active")]
    seen: list[str] = []
    before: str | None = None
    while True:
        page = again.request("get_history", "history", session_id=chat.session_id, limit=2,
                             **({"before": before} if before else {}))
        seen += [m["id"] for m in said(page["messages"])]
        before = page["next"]
        if before is None:
            break
    assert seen == list(reversed(sent))


def test_two_tabs_starting_at_once_share_one_session(stack: Stack, fresh: None, connect: Connect) -> None:
    visitor = sign_up_visitor(stack, "Victor")
    tabs = [connect(visitor), connect(visitor)]
    for tab in tabs:
        tab.ping()

    for tab in tabs:
        tab.send("start_session")

    session_ids = {tab.expect("session.queued")["session_id"] for tab in tabs}
    assert len(session_ids) == 1
    listed = tabs[0].request("list_sessions", "sessions")["sessions"]
    assert [s["session_id"] for s in listed] == list(session_ids)


def test_a_retry_after_the_session_ended_gets_the_original_ack(chat: Conversation) -> None:
    sent = chat.visitor_socket.send_message(chat.session_id, "last words", client_msg_id="final")
    chat.agent_socket.send("end_session", session_id=chat.session_id)
    chat.visitor_socket.expect("session.ended", session_id=chat.session_id)

    assert chat.visitor_socket.send_message(chat.session_id, "last words", client_msg_id="final") == sent


def test_a_waiting_visitor_who_reconnects_is_still_waiting_in_the_same_session(
        stack: Stack, fresh: None, connect: Connect) -> None:
    visitor = sign_up_visitor(stack, "Victor")
    socket = connect(visitor)
    queued = socket.request("start_session", "session.queued")
    socket.client.close()

    again = connect(visitor)

    resumed = again.request("start_session", "session.queued")
    assert (resumed["session_id"], resumed["position"]) == (queued["session_id"], 1)


def test_an_agent_who_reconnects_gets_their_active_sessions(stack: Stack, chat: Conversation,
                                                            connect: Connect) -> None:
    chat.agent_socket.client.close()

    again = connect(chat.agent)

    sessions = again.request("list_sessions", "sessions")["sessions"]
    assert [(s["session_id"], s["status"]) for s in sessions] == [(chat.session_id, "active")]
    message = chat.visitor_socket.send_message(chat.session_id, "are you still there?")
    assert again.expect("message.new")["message"] == message


# ---- session versions: the newest frame wins -----------------------------------------------------

SESSION_FRAMES = ("session.queued", "session.assigned", "session.transferred", "session.released",
                  "session.ended", "session.rated")


def test_every_session_frame_carries_a_version_that_grows_from_queued_to_assigned_transferred_ended(
        stack: Stack, fresh: None, connect: Connect) -> None:
    visitor = sign_up_visitor(stack, "Victor")
    visitor_socket = connect(visitor)
    session_id = visitor_socket.request("start_session", "session.queued")["session_id"]
    alice = agent_account("Alice")
    alice_socket = go_online(stack, connect, alice)
    visitor_socket.expect("session.assigned", session_id=session_id)
    alice_socket.expect("session.assigned", session_id=session_id)
    asked = visitor_socket.request("get_session", "session.assigned", session_id=session_id)
    listed = visitor_socket.request("list_sessions", "sessions")["sessions"]
    rest = api(stack, "GET", f"/api/sessions/{session_id}", visitor.token).json()

    bob = agent_account("Bob")
    bob_socket = go_online(stack, connect, bob)
    moved = api(stack, "POST", f"/api/sessions/{session_id}/transfer", alice.token, json={"agent_id": bob.id})
    assert moved.status_code == 200, moved.text
    bob_socket.expect("session.transferred", session_id=session_id)
    ended = api(stack, "POST", f"/api/sessions/{session_id}/end", bob.token)
    assert ended.status_code == 200, ended.text
    visitor_socket.expect("session.ended", session_id=session_id)
    visitor_socket.request("rate_session", "session.rated", session_id=session_id, rating=4)
    bob_socket.expect("session.rated", session_id=session_id)

    told = [(f["type"], f.get("version")) for f in visitor_socket.session_frames(session_id)]
    assert told == [("session.queued", 1), ("session.assigned", 2), ("session.assigned", 2),
                    ("session.transferred", 3), ("session.ended", 4), ("session.rated", 5)]
    assert visitor_socket.received[0]["position_seq"] == 0  # the position told at the start
    for socket in (alice_socket, bob_socket):
        frames = socket.session_frames(session_id)
        assert frames and all(f["type"] in SESSION_FRAMES and isinstance(f.get("version"), int) for f in frames)
        assert [f["version"] for f in frames] == sorted(f["version"] for f in frames)
    assert asked["version"] == 2
    assert [(s["session_id"], s["version"]) for s in listed] == [(session_id, 2)]
    assert (rest["version"], moved.json()["version"], ended.json()["version"]) == (2, 3, 4)


def test_an_assignment_is_one_frame_per_socket_carrying_the_stored_joined_line(
        stack: Stack, fresh: None, connect: Connect) -> None:
    alice, alice_socket = online_agent(stack, connect, "Alice")
    visitor = sign_up_visitor(stack, "Victor")
    visitor_socket = connect(visitor)

    visitor_socket.send("start_session", topic="billing")
    told_visitor = visitor_socket.expect("session.assigned")
    session_id = told_visitor["session_id"]
    told_agent = alice_socket.expect("session.assigned", session_id=session_id)

    stored = api(stack, "GET", f"/api/sessions/{session_id}/messages", alice.token).json()["messages"]
    joined = [m for m in stored if m["sender"]["type"] == "system"]
    assert [m["system"]["event"] for m in joined] == ["assigned"]
    assert told_visitor["line"] == told_agent["line"] == joined[0]
    assert joined[0]["text"] == "Alice joined the conversation"
    for socket in (visitor_socket, alice_socket):  # no second post for the line
        assert not [f for f in socket.sync() if f["type"] == "message.new"]
        assert socket.system_lines == [joined[0]]


def test_a_position_announcement_read_before_an_assignment_and_posted_after_it_is_stale(
        stack: Stack, fresh: None, connect: Connect) -> None:
    from chalicelib.services import assignment

    visitor = sign_up_visitor(stack, "Victor")
    visitor_socket = connect(visitor)
    session_id = visitor_socket.request("start_session", "session.queued")["session_id"]
    agent = agent_account("Alice")
    agent_socket = connect(agent)  # alive, but offline until the announcement has read the queue
    agent_socket.ping()

    def agent_comes_online() -> None:
        settle()  # the dispatch finds the customer on the queue index, seconds behind at worst
        assignment.set_status(agent.id, "online")  # dispatches: the customer is assigned and told

    with before_push(agent_comes_online, when=lambda f: f.get("type") == "session.queued") as held:
        assignment.announce_positions()

    assert [f["session_id"] for f in held] == [session_id]  # the race happened
    late = visitor_socket.expect("session.queued", session_id=session_id)
    frames = visitor_socket.session_frames(session_id)
    assert [f["type"] for f in frames] == ["session.queued", "session.assigned", "session.queued"]
    assert late["position"] == 1
    shown = SessionView().shown(frames, session_id)
    assert shown["type"] == "session.assigned" and shown["agent"]["id"] == agent.id
    assert frame_key(late) < frame_key(frames[1])


def test_a_later_position_announcement_wins_over_an_earlier_one_posted_after_it(
        stack: Stack, fresh: None, connect: Connect, time_passes) -> None:
    from chalicelib.services import assignment
    from chalicelib.services.assignment import positions

    first_socket, second_socket = (connect(sign_up_visitor(stack, name)) for name in ("Ann", "Ben"))
    leaving = first_socket.request("start_session", "session.queued")["session_id"]
    waiting = second_socket.request("start_session", "session.queued")["session_id"]

    def first_leaves() -> None:
        time_passes(positions.LEASE_SECONDS + 1)  # the announcer stalls past its lease: the leave's runs
        first_socket.send("end_session", session_id=leaving)
        second_socket.expect("session.queued", session_id=waiting, position=1)  # the leave's announcement

    with before_push(first_leaves, when=lambda f: f.get("session_id") == waiting) as held:
        assignment.announce_positions()  # reads the queue while Ann still waits: Ben is number 2

    assert [f["position"] for f in held] == [2]
    second_socket.expect("session.queued", session_id=waiting, position=2)
    frames = second_socket.session_frames(waiting)
    assert [f["position"] for f in frames] == [2, 1, 2]  # the earlier announcement landed last
    assert SessionView().shown(frames, waiting)["position"] == 1


def test_a_queue_move_during_an_announcement_is_told_by_the_announcer_running_once_it_finishes(
        stack: Stack, fresh: None, connect: Connect) -> None:
    from chalicelib.services import assignment

    first_socket, second_socket = (connect(sign_up_visitor(stack, name)) for name in ("Ann", "Ben"))
    leaving = first_socket.request("start_session", "session.queued")["session_id"]
    waiting = second_socket.request("start_session", "session.queued")["session_id"]

    def first_leaves() -> None:
        first_socket.request("end_session", "session.ended", session_id=leaving)  # its announcement waits

    with before_push(first_leaves, when=lambda f: f.get("session_id") == waiting) as held:
        assignment.announce_positions()  # reads the queue while Ann still waits: Ben is number 2

    assert [f["position"] for f in held] == [2]
    told = second_socket.expect("session.queued", session_id=waiting, position=1)  # its next run
    assert frame_key(told) > frame_key(held[0])
    assert SessionView().shown(second_socket.session_frames(waiting), waiting)["position"] == 1


def test_an_admins_socket_lists_their_own_active_sessions_like_an_agents(
        stack: Stack, admin: str, connect: Connect) -> None:
    others = open_conversation(stack, connect)  # Alice's customer
    admin_id = tokens.verify(admin).user_id
    admin_socket = connect(Person(admin_id, "Administrator", admin))
    assert admin_socket.request("list_sessions", "sessions")["sessions"] == []

    set_status(stack, Person(admin_id, "Administrator", admin), "online")
    # The index an assigner reads may lag seconds behind (KEFU_SIM=aws); until it shows the admin,
    # Alice (with room) is rightly the only choice. Settled, the least loaded is the admin.
    settle()
    customer = connect(sign_up_visitor(stack, "Carl"))
    customer.send("start_session")
    own = customer.expect("session.assigned")
    assert own["agent"]["id"] == admin_id  # the least loaded: Alice has one customer already

    listed = admin_socket.request("list_sessions", "sessions")["sessions"]
    assert [s["session_id"] for s in listed] == [own["session_id"]]

    def everyones_listed() -> bool:  # the listing reads an index: seconds behind at worst (KEFU_SIM=aws)
        every = api(stack, "GET", "/api/sessions", admin, params={"status": "active"}).json()["sessions"]
        return {s["session_id"] for s in every} >= {own["session_id"], others.session_id}

    wait_for(everyones_listed, timeout=15)


# ---- several tabs ---------------------------------------------------------------------------------

def test_every_tab_of_the_agent_gets_the_visitors_message(chat: Conversation, connect: Connect) -> None:
    second_tab = connect(chat.agent)
    second_tab.ping()  # registered before the message is sent

    message = chat.visitor_socket.send_message(chat.session_id, "hello?")

    assert chat.agent_socket.expect("message.new")["message"] == message
    assert second_tab.expect("message.new")["message"] == message


def test_every_tab_of_the_visitor_sees_the_reply_and_the_senders_other_tabs_see_its_message(
        chat: Conversation, connect: Connect) -> None:
    first_tab, second_tab = chat.visitor_socket, connect(chat.visitor)
    second_tab.ping()

    reply = chat.agent_socket.send_message(chat.session_id, "How can I help?")
    assert first_tab.expect("message.new")["message"] == reply
    assert second_tab.expect("message.new")["message"] == reply

    first_tab.send("send_message", session_id=chat.session_id, client_msg_id="tab-1", text="from tab one")
    ack = first_tab.expect("message.ack", client_msg_id="tab-1")
    assert second_tab.expect("message.new")["message"] == ack["message"]
    assert chat.agent_socket.expect("message.new")["message"] == ack["message"]
    assert [f for f in first_tab.sync() if f["type"] == "message.new"] == []  # the ack, not an echo


# ---- REST mirror -------------------------------------------------------------------------------

def test_a_message_posted_over_rest_reaches_every_socket_and_a_retry_is_not_stored_twice(
        stack: Stack, chat: Conversation, connect: Connect) -> None:
    body = {"text": "sent from the agent console", "client_msg_id": "console-1"}
    path = f"/api/sessions/{chat.session_id}/messages"

    first = api(stack, "POST", path, chat.agent.token, json=body)
    retry = api(stack, "POST", path, chat.agent.token, json=body)

    assert first.status_code == 201, first.text
    assert (retry.status_code, retry.json()["duplicate"]) == (200, True)
    message = first.json()["message"]
    assert retry.json()["message"] == message
    assert chat.visitor_socket.expect("message.new")["message"] == message
    assert chat.agent_socket.expect("message.new")["message"] == message  # no socket sent it
    assert [m["id"] for m in stored_messages(stack, chat.visitor.token, chat.session_id)] == [message["id"]]


# ---- idempotent sends -------------------------------------------------------------------------

@pytest.fixture
def many_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Room for 30 sockets per visitor (the default cap is 10)."""
    monkeypatch.setenv("KEFU_MAX_SOCKETS_VISITOR", "30")
    reload_config()
    yield
    monkeypatch.undo()
    reload_config()


def test_twenty_concurrent_retries_of_one_client_msg_id_store_one_message(
        stack: Stack, chat: Conversation, connect: Connect, many_sockets: None) -> None:
    sockets = [connect(chat.visitor) for _ in range(20)]
    for socket in sockets:
        socket.ping()
    start = threading.Barrier(len(sockets))
    acks: list[dict[str, Any]] = []
    failures: list[BaseException] = []

    def retry(socket: Peer) -> None:
        try:
            start.wait(timeout=10)
            socket.send("send_message", session_id=chat.session_id, client_msg_id="same-id",
                        text="charged twice?")
            acks.append(socket.expect("message.ack", client_msg_id="same-id", timeout=15))
        except BaseException as e:  # reported below, with the test's own assertion
            failures.append(e)

    threads = [threading.Thread(target=retry, args=(s,)) for s in sockets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert failures == []
    assert len(acks) == 20
    assert len({ack["message"]["id"] for ack in acks}) == 1
    stored = stored_messages(stack, chat.agent.token, chat.session_id)
    assert [(m["id"], m["text"]) for m in stored] == [(acks[0]["message"]["id"], "charged twice?")]
    delivered = [f for f in chat.agent_socket.sync() if f["type"] == "message.new"]
    assert [f["message"]["id"] for f in delivered] == [acks[0]["message"]["id"]]


def test_rapid_retries_on_one_socket_are_all_acked_with_the_same_message(
        stack: Stack, chat: Conversation) -> None:
    frame = json.dumps({"action": "send_message", "session_id": chat.session_id,
                        "client_msg_id": "again", "text": "did this go through?"})
    for _ in range(20):
        chat.visitor_socket.send_raw(frame)

    acks = [chat.visitor_socket.expect("message.ack", client_msg_id="again") for _ in range(20)]

    assert len({ack["message"]["id"] for ack in acks}) == 1
    assert len(stored_messages(stack, chat.agent.token, chat.session_id)) == 1


# ---- gone connections ---------------------------------------------------------------------------

def test_a_send_to_an_agent_whose_socket_died_unnoticed_succeeds_and_cleans_up_the_record(
        stack: Stack, chat: Conversation, connect: Connect, time_passes) -> None:
    dead = chat.agent_socket.connection_id
    live_tab = connect(chat.agent)
    live_tab.ping()
    stack.gateway.lose_disconnect_ids.add(dead)
    try:
        abort(chat.agent_socket.client)
        wait_for(lambda: dead not in stack.gateway.connection_ids())
        assert ConnectionModel.get(dead, consistent_read=True)  # $disconnect was lost: the record stayed behind
        time_passes(60)  # long after its $connect: a 410 now proves the socket is gone
        gone_before = push.stats.snapshot()["gone"]

        message = chat.visitor_socket.send_message(chat.session_id, "anyone?")
    finally:
        stack.gateway.lose_disconnect_ids.discard(dead)

    assert live_tab.expect("message.new")["message"] == message
    with pytest.raises(ConnectionModel.DoesNotExist):
        ConnectionModel.get(dead, consistent_read=True)
    assert push.stats.snapshot()["gone"] == gone_before + 1


# ---- error frames: each code, and the socket stays usable -----------------------------------------

BAD_FRAMES: list[tuple[str, Any, str]] = [
    # (case, frame, code)
    ("not JSON", "not json", "invalid_json"),
    ("a JSON array", "[1, 2]", "invalid_json"),
    ("an unknown action", {"action": "dance"}, "unknown_action"),
    ("no action", {"text": "hi"}, "unknown_action"),
    ("a message without text", {"action": "send_message", "client_msg_id": "c-1"}, "validation_error"),
    ("an empty message", {"action": "send_message", "client_msg_id": "c-1", "text": ""}, "validation_error"),
    ("a message of 4001 characters", {"action": "send_message", "client_msg_id": "c-1", "text": "x" * 4001},
     "validation_error"),
    ("a message without client_msg_id", {"action": "send_message", "text": "hi"}, "validation_error"),
    ("a history page of 101", {"action": "get_history", "limit": 101}, "validation_error"),
    ("a history page of 0", {"action": "get_history", "limit": 0}, "validation_error"),
    ("typing without is_typing", {"action": "typing"}, "validation_error"),
    ("a rating of 6", {"action": "rate_session", "rating": 6}, "validation_error"),
]


@pytest.mark.parametrize(("frame", "code"), [case[1:] for case in BAD_FRAMES],
                         ids=[case[0] for case in BAD_FRAMES])
def test_a_bad_frame_is_answered_with_an_error_and_the_socket_stays_usable(
        stack: Stack, chat: Conversation, frame: Any, code: str) -> None:
    if isinstance(frame, dict):
        frame = json.dumps({"session_id": chat.session_id, **frame})

    chat.visitor_socket.send_raw(frame)

    error = chat.visitor_socket.expect("error")
    assert error["code"] == code
    assert error["message"]
    assert chat.visitor_socket.ping()["type"] == "pong"
    assert stored_messages(stack, chat.agent.token, chat.session_id) == []


@pytest.mark.parametrize("number", ["NaN", "Infinity", "1e-300", "1e308", str(2**53)])
def test_an_identify_attribute_no_browser_or_dynamodb_can_hold_is_refused_and_nothing_is_kept(
        stack: Stack, chat: Conversation, number: str) -> None:
    """JSON text may say NaN or Infinity (Python's parser takes them); DynamoDB stores neither, nor
    magnitudes under 1e-130, and a browser holds integers exactly only up to 2**53 - 1."""
    socket = chat.visitor_socket

    socket.send_raw('{"action": "identify", "user_id": "u-1", "attributes": {"plan": "pro", "figure": '
                    + number + "}}")

    error = socket.expect("error")
    assert (error["code"], error["action"]) == ("validation_error", "identify")
    assert "attributes" in error["message"]
    assert socket.ping()["type"] == "pong"
    profile = api(stack, "GET", "/api/visitors/me", chat.visitor.token).json()
    assert (profile["attributes"], profile.get("external_id")) == ({}, None)


@pytest.mark.parametrize("email", ["ann@example.com\n", "ann@example.com\nBcc: x@example.com", "ann example.com"])
def test_an_email_that_is_not_one_address_is_refused_over_the_socket_and_not_stored(
        stack: Stack, chat: Conversation, email: str) -> None:
    """A line break after the address would reach SES as the transcript's recipient."""
    socket = chat.visitor_socket

    socket.send("update_visitor", email=email)

    error = socket.expect("error")
    assert (error["code"], error["action"]) == ("validation_error", "update_visitor")
    assert error["message"].startswith("email:")
    assert socket.ping()["type"] == "pong"
    assert api(stack, "GET", "/api/visitors/me", chat.visitor.token).json()["email"] is None


def test_an_invalid_frame_error_names_the_action_and_client_msg_id_it_answers(chat: Conversation) -> None:
    socket = chat.visitor_socket

    socket.send("send_message", session_id=chat.session_id, client_msg_id="c-7", text="")
    rejected_send = socket.expect("error")
    socket.send("dance")
    unknown = socket.expect("error")

    assert (rejected_send["code"], rejected_send.get("action"), rejected_send.get("client_msg_id")) == (
        "validation_error", "send_message", "c-7")
    assert (unknown["code"], unknown.get("action")) == ("unknown_action", "dance")


def test_a_visitor_cannot_post_into_or_read_another_visitors_session(
        stack: Stack, chat: Conversation, connect: Connect) -> None:
    intruder = connect(sign_up_visitor(stack, "Mallory"))

    intruder.send("send_message", session_id=chat.session_id, client_msg_id="sneak", text="hi from Mallory")
    intruder.expect_error("forbidden", action="send_message", client_msg_id="sneak")
    intruder.send("get_history", session_id=chat.session_id)
    intruder.expect_error("forbidden", action="get_history")
    intruder.send("end_session", session_id=chat.session_id)
    intruder.expect_error("forbidden", action="end_session")
    intruder.send("get_session", session_id=chat.session_id)
    intruder.expect_error("forbidden", action="get_session")

    assert intruder.ping()["type"] == "pong"
    assert stored_messages(stack, chat.agent.token, chat.session_id) == []
    assert [f for f in chat.agent_socket.sync() if f["type"] == "message.new"] == []
    session = api(stack, "GET", f"/api/sessions/{chat.session_id}", chat.agent.token).json()
    assert session["status"] == "active"


def test_an_agent_cannot_post_into_another_agents_session_but_an_admin_can_read_it(
        stack: Stack, admin: str, chat: Conversation, connect: Connect) -> None:
    other_agent = connect(agent_account("Bob"))
    chat.visitor_socket.send_message(chat.session_id, "for Alice only")

    other_agent.send("send_message", session_id=chat.session_id, client_msg_id="b-1", text="I am Bob")
    other_agent.expect_error("forbidden", action="send_message", client_msg_id="b-1")
    other_agent.send("start_session")
    other_agent.expect_error("forbidden", action="start_session")
    assert other_agent.ping()["type"] == "pong"

    admin_socket = connect(Person(id="admin", name="Administrator", token=admin))
    history = admin_socket.request("get_history", "history", session_id=chat.session_id)
    assert [m["text"] for m in said(history["messages"])] == ["for Alice only"]


def test_unknown_sessions_and_messages_are_not_found(chat: Conversation) -> None:
    socket = chat.visitor_socket

    socket.send("send_message", session_id="s_nope", client_msg_id="c-9", text="hello")
    socket.expect_error("not_found", action="send_message", client_msg_id="c-9")
    socket.send("get_history", session_id="s_nope")
    socket.expect_error("not_found", action="get_history")
    socket.send("mark_read", session_id=chat.session_id, up_to="01NOSUCHMESSAGE")
    socket.expect_error("not_found", action="mark_read")

    assert socket.ping()["type"] == "pong"


def test_an_ended_session_takes_no_more_messages_nor_typing_nor_a_second_end(
        stack: Stack, chat: Conversation) -> None:
    chat.visitor_socket.send_message(chat.session_id, "thanks, bye")
    chat.visitor_socket.send("end_session", session_id=chat.session_id)
    chat.visitor_socket.expect("session.ended", session_id=chat.session_id)

    chat.agent_socket.send("send_message", session_id=chat.session_id, client_msg_id="late", text="wait!")
    chat.agent_socket.expect_error("conflict", action="send_message", client_msg_id="late")
    chat.visitor_socket.send("typing", session_id=chat.session_id, is_typing=True)
    chat.visitor_socket.expect_error("conflict", action="typing")
    chat.visitor_socket.send("end_session", session_id=chat.session_id)
    chat.visitor_socket.expect_error("conflict", action="end_session")

    assert chat.agent_socket.ping()["type"] == "pong"
    assert chat.visitor_socket.ping()["type"] == "pong"
    assert [m["text"] for m in stored_messages(stack, chat.agent.token, chat.session_id)] == ["thanks, bye"]


def test_an_open_session_cannot_be_rated(chat: Conversation) -> None:
    chat.visitor_socket.send("rate_session", session_id=chat.session_id, rating=4)

    chat.visitor_socket.expect_error("conflict", action="rate_session")
    assert chat.visitor_socket.ping()["type"] == "pong"


def test_a_message_over_32_kb_is_refused_as_too_large_and_nothing_is_stored(
        stack: Stack, chat: Conversation) -> None:
    chat.visitor_socket.send("send_message", session_id=chat.session_id, client_msg_id="big",
                             text="x" * 40_000)

    assert chat.visitor_socket.expect("error")["code"] == "too_large"
    assert chat.visitor_socket.ping()["type"] == "pong"
    assert stored_messages(stack, chat.agent.token, chat.session_id) == []


@pytest.fixture
def tight_rate_limit(monkeypatch: pytest.MonkeyPatch, chat: Conversation,
                     time_passes: Callable[[float], None]) -> Iterator[tuple[int, float]]:
    """5 frames at once, then one back every 60 s, for the stack (it runs in this process, on this
    config), once the frames that opened ``chat`` are behind.

    The budget is a token bucket (``budgets``, GCRA), not a fixed window: it gives one frame back
    every ``window / limit`` seconds. With a 2 s window that was every 0.4 s, less than a burst of
    eight frames takes to be served on a busy machine (0.7 to 1.1 s measured), so a sixth frame was
    rightly let through. One back every 60 s leaves the burst nothing to gain, however slow the
    machine; the clock seam (``time_passes``) moves time on instead of the test sleeping."""
    opened_on = reload_config().ws_rate_window_seconds  # the budget the chat's frames were counted on
    monkeypatch.setenv("KEFU_WS_RATE_LIMIT", "5")
    monkeypatch.setenv("KEFU_WS_RATE_WINDOW", "300")
    config = reload_config()
    time_passes(opened_on)  # a bucket is full again at most one window after its last frame
    yield config.ws_rate_limit, config.ws_rate_window_seconds
    monkeypatch.undo()
    reload_config()


def test_sends_beyond_the_rate_limit_are_refused_not_stored_and_the_socket_recovers(
        stack: Stack, chat: Conversation, tight_rate_limit: tuple[int, float],
        time_passes: Callable[[float], None]) -> None:
    limit, window = tight_rate_limit
    for n in range(limit + 3):
        chat.visitor_socket.send("send_message", session_id=chat.session_id, client_msg_id=f"burst-{n}",
                                 text=f"burst {n}")

    replies = [chat.visitor_socket.expect(("message.ack", "error")) for _ in range(limit + 3)]

    acked = [r["client_msg_id"] for r in replies if r["type"] == "message.ack"]
    refused = [r for r in replies if r["type"] == "error"]
    assert acked == [f"burst-{n}" for n in range(limit)]
    assert [(r["code"], r["client_msg_id"]) for r in refused] == [
        ("rate_limited", f"burst-{n}") for n in range(limit, limit + 3)]
    assert all(0 < r["retry_after"] <= window / limit for r in refused)  # one frame back per interval
    assert [m["client_msg_id"] for m in stored_messages(stack, chat.agent.token, chat.session_id)] == acked
    assert chat.agent_socket.ping()["type"] == "pong"  # another connection is not limited
    time_passes(max(r["retry_after"] for r in refused))
    assert chat.visitor_socket.ping()["type"] == "pong"


def test_a_frame_over_128_kb_closes_the_socket_with_1009_before_the_app_sees_it(
        stack: Stack, chat: Conversation) -> None:
    frame = json.dumps({"action": "send_message", "session_id": chat.session_id, "client_msg_id": "huge",
                        "text": "x" * (128 * 1024)})

    with stack.gateway.capture_events() as events:
        chat.visitor_socket.send_raw(frame)
        with pytest.raises(ConnectionClosed) as closed:
            chat.visitor_socket.client.recv(timeout=5)
        wait_for(lambda: events)

    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert [e["requestContext"]["eventType"] for e in events] == ["DISCONNECT"]
    assert chat.agent_socket.ping()["type"] == "pong"


def test_over_rest_a_body_over_64_kb_is_413_too_large(stack: Stack, chat: Conversation) -> None:
    response = api(stack, "POST", f"/api/sessions/{chat.session_id}/messages", chat.visitor.token,
                   json={"text": "x" * 70_000, "client_msg_id": "big"})

    assert response.status_code == 413
    assert response.json()["error"] == "too_large"


# ---- tokens ----------------------------------------------------------------------------------------

def _claims(visitor: Person, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": visitor.id, "typ": "visitor", "role": "visitor", "iat": now, "exp": now + 600}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


ATTACKS: dict[str, Callable[[Person], str | None]] = {
    "missing": lambda v: None,
    "empty": lambda v: "",
    "garbage": lambda v: "not-a-jwt",
    "alg none": lambda v: jwt.encode(_claims(v), None, algorithm="none"),
    "expired": lambda v: tokens.issue(Principal(v.id, "visitor", "visitor"), ttl_seconds=-60)[0],
    "forged": lambda v: jwt.encode(_claims(v), "not the secret" * 3, algorithm="HS256"),
    "another algorithm": lambda v: jwt.encode(_claims(v), tokens.signing_secret(), algorithm="HS512"),
    "without a type": lambda v: jwt.encode(_claims(v, typ=None), tokens.signing_secret(), algorithm="HS256"),
    "a visitor claiming admin": lambda v: jwt.encode(_claims(v, role="admin"), tokens.signing_secret(),
                                                     algorithm="HS256"),
}


@pytest.fixture
def visitor(stack: Stack) -> Person:
    return sign_up_visitor(stack, "Eve")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # HS512, on purpose
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_connect_with_a_bad_token_is_rejected_with_403(stack: Stack, visitor: Person, attack: str) -> None:
    token = ATTACKS[attack](visitor)
    url = stack.ws_url if token is None else f"{stack.ws_url}?token={token}"

    with pytest.raises(InvalidStatus) as rejected:
        ws_open(url, open_timeout=10)

    assert rejected.value.response.status_code == 403


def test_the_visitors_own_token_is_accepted_on_connect(stack: Stack, visitor: Person, connect: Connect) -> None:
    assert connect(visitor).ping()["type"] == "pong"


def test_a_visitor_token_on_an_agent_route_is_401_invalid_token(stack: Stack, visitor: Person) -> None:
    for method, path in [("GET", "/api/agents/me"), ("PUT", "/api/agents/me/status"),
                         ("GET", "/api/kefu/queue"), ("POST", "/api/agents")]:
        response = api(stack, method, path, visitor.token, json={})

        assert response.status_code == 401, path
        assert response.json()["error"] == "invalid_token"


def test_an_expired_agent_token_is_401_invalid_token(stack: Stack) -> None:
    agent = agent_account("Old")
    expired, _ = tokens.issue(Principal(agent.id, "agent", "agent", "Old"), ttl_seconds=-60)

    response = api(stack, "GET", "/api/agents/me", expired)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_a_request_without_authorization_is_401_unauthorized(stack: Stack) -> None:
    response = api(stack, "GET", "/api/agents/me")

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_an_agent_without_the_admin_role_cannot_create_agents(stack: Stack) -> None:
    agent = agent_account("Plain")

    response = api(stack, "POST", "/api/agents", agent.token,
                   json={"username": "sneaky", "password": "long enough", "role": "admin"})

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
