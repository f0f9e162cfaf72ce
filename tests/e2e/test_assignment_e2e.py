"""Assignment end to end: who gets which customer, the queue and its positions, transfer, and
presence that does not trust ``$disconnect`` alone, through real sockets on the local stack."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from chalicelib.config import get_config, reload_config
from chalicelib.services import assignment, connections
from devstack import Stack
from tests import faults
from tests.concurrency.invariants import settle
from tests.conftest import simulated_aws
from tests.e2e.conftest import abort, wait_for
from tests.e2e.protocol_helpers import (
    Connect,
    Peer,
    Person,
    agent_account,
    agent_overview,
    api,
    create_agent,
    go_online,
    online_agent,
    set_status,
    sign_up_visitor,
)


@pytest.fixture(autouse=True)
def every_test_starts_empty(fresh: None) -> None:
    """Nobody else online, nobody else waiting: queue positions count from 1."""


@pytest.fixture
def short_heartbeat_window(monkeypatch: pytest.MonkeyPatch) -> Iterator[float]:
    """A 2-second heartbeat window for the stack (it runs in this process, on this config)."""
    monkeypatch.setenv("KEFU_HEARTBEAT_WINDOW", "2")
    reload_config()
    yield get_config().heartbeat_window_seconds
    monkeypatch.undo()
    reload_config()


@pytest.fixture
def lose_disconnect_of(stack: Stack) -> Iterator[Callable[[Peer], None]]:
    """``lose_disconnect_of(peer)``: that socket's ``$disconnect`` will never reach the app."""
    lost: list[str] = []

    def lose(peer: Peer) -> None:
        lost.append(peer.connection_id)
        stack.gateway.lose_disconnect_ids.add(peer.connection_id)

    yield lose
    for connection_id in lost:
        stack.gateway.lose_disconnect_ids.discard(connection_id)


def start(connect: Connect, visitor: Person) -> Peer:
    socket = connect(visitor)
    socket.send("start_session")
    return socket


def start_visitor(stack: Stack, connect: Connect, name: str) -> tuple[Person, Peer]:
    visitor = sign_up_visitor(stack, name)
    return visitor, start(connect, visitor)


# ---- capacity and the queue --------------------------------------------------------------------

def test_two_agents_of_capacity_one_take_a_customer_each_and_the_third_waits_first_in_line(
        stack: Stack, connect: Connect) -> None:
    (ann, ann_socket), (bob, bob_socket) = (online_agent(stack, connect, name, max_concurrent=1)
                                            for name in ("Ann", "Bob"))
    agent_sockets = {ann.id: ann_socket, bob.id: bob_socket}

    first, second = (start_visitor(stack, connect, name)[1] for name in ("Uma", "Vic"))
    first_assigned, second_assigned = (s.expect("session.assigned") for s in (first, second))
    _, third = start_visitor(stack, connect, "Wes")

    assert {first_assigned["agent"]["id"], second_assigned["agent"]["id"]} == {ann.id, bob.id}
    queued = third.expect("session.queued")
    assert queued["position"] == 1
    freed_agent = first_assigned["agent"]["id"]
    freed_socket = agent_sockets[freed_agent]
    freed_socket.expect("session.assigned", session_id=first_assigned["session_id"])

    first.send("end_session", session_id=first_assigned["session_id"])

    served = third.expect("session.assigned", session_id=queued["session_id"])
    assert served["agent"]["id"] == freed_agent
    freed_socket.expect("session.assigned", session_id=queued["session_id"])
    other_socket = agent_sockets[second_assigned["agent"]["id"]]
    assert [f for f in other_socket.sync()
            if f["type"] == "session.assigned" and f["session_id"] == queued["session_id"]] == []


def test_waiting_customers_are_told_their_new_position_when_the_queue_moves(
        stack: Stack, connect: Connect) -> None:
    agent, agent_socket = online_agent(stack, connect, "Ann", max_concurrent=1)
    _, first = start_visitor(stack, connect, "Uma")
    current = first.expect("session.assigned")["session_id"]
    _, second = start_visitor(stack, connect, "Vic")
    second_queued = second.expect("session.queued", position=1)
    _, third = start_visitor(stack, connect, "Wes")
    third_queued = third.expect("session.queued", position=2)

    agent_socket.send("end_session", session_id=current)

    second.expect("session.assigned", session_id=second_queued["session_id"])
    agent_socket.expect("session.assigned", session_id=second_queued["session_id"])
    assert third.expect("session.queued", session_id=third_queued["session_id"])["position"] == 1


def test_beyond_the_first_ten_a_waiter_is_told_again_only_when_the_band_they_see_changes(
        stack: Stack, connect: Connect) -> None:
    waiting, sessions = [], []
    for n in range(1, 14):  # each in line before the next arrives (sockets' frames run concurrently)
        socket = start_visitor(stack, connect, f"W{n}")[1]
        sessions.append(socket.expect("session.queued", position=n)["session_id"])
        waiting.append(socket)
    last, last_session = waiting[-1], sessions[-1]
    assert last.session_frames(last_session)[0]["band"] == [11, 20]

    for k in range(3):  # one move at a time: each announcement has read the queue before the next move
        waiting[k].send("end_session", session_id=sessions[k])
        waiting[k + 1].expect("session.queued", session_id=sessions[k + 1], position=1)
    last.expect("session.queued", session_id=last_session, position=10)  # the first ten: exact again

    # 13 -> 12: told (the first announcement tells everyone it has not told yet); 12 -> 11 stayed
    # within 11-20: not told; 11 -> 10: told.
    assert [f["position"] for f in last.session_frames(last_session)] == [13, 12, 10]
    assert waiting[11].expect("session.queued", session_id=sessions[11], position=9)


def first_of_two_waiting_leaves(stack: Stack, connect: Connect) -> tuple[Peer, Peer, str]:
    """Two customers wait; the first ends their session and is told so. Returns both sockets and
    the session of the one still waiting, who must then hear position 1."""
    _, first = start_visitor(stack, connect, "Uma")
    leaving = first.expect("session.queued", position=1)["session_id"]
    _, second = start_visitor(stack, connect, "Vic")
    waiting = second.expect("session.queued", position=2)["session_id"]

    first.send("end_session", session_id=leaving)

    first.expect("session.ended", session_id=leaving)
    return first, second, waiting


def test_a_customer_who_leaves_the_queue_moves_those_behind_them_up(stack: Stack, connect: Connect) -> None:
    _, second, waiting = first_of_two_waiting_leaves(stack, connect)

    assert second.expect("session.queued", session_id=waiting)["position"] == 1
    # The listing reads the queue index, which may be seconds behind (a customer who joined a
    # moment ago not listed yet) but never lists a leaver nor a wrong position.
    token = agent_account("Ann").token
    listings: list[list[tuple[str, int]]] = []

    def listed() -> bool:
        queue = api(stack, "GET", "/api/kefu/queue", token).json()["queue"]
        listings.append([(q["session_id"], q["position"]) for q in queue])
        return listings[-1] == [(waiting, 1)]

    wait_for(listed, timeout=15, interval=0.2)
    assert all(listing in ([], [(waiting, 1)]) for listing in listings), listings


def test_the_one_behind_a_leaver_hears_position_1_while_the_index_still_lists_the_leaver_instead(
        stack: Stack, connect: Connect) -> None:
    """With a long index lag the queue index may still show the leaver and not yet the customer
    behind: one row, as many as the queue counter says wait, yet the wrong one."""
    with simulated_aws(gsi_lag_ms=900, stale_read=0):
        first, second, waiting = first_of_two_waiting_leaves(stack, connect)

        assert second.expect("session.queued", session_id=waiting)["position"] == 1
        assert [f for f in first.sync() if f.get("type") == "session.queued"] == []


def test_an_agent_coming_online_is_given_the_waiting_customer(stack: Stack, connect: Connect) -> None:
    visitor, socket = start_visitor(stack, connect, "Uma")
    queued = socket.expect("session.queued", position=1)

    agent, agent_socket = online_agent(stack, connect, "Ann")

    assigned = socket.expect("session.assigned", session_id=queued["session_id"])
    assert assigned["agent"] == {"id": agent.id, "name": "Ann"}
    told = agent_socket.expect("session.assigned", session_id=queued["session_id"])
    assert told["customer"] == {"id": visitor.id, "name": "Uma"}


def test_customers_arriving_together_are_told_unique_consecutive_positions(
        stack: Stack, connect: Connect) -> None:
    sockets = [connect(sign_up_visitor(stack, f"V{n}")) for n in range(6)]
    for socket in sockets:
        socket.ping()
    barrier = threading.Barrier(len(sockets))
    positions: list[int] = []

    def arrive(socket: Peer) -> None:
        barrier.wait(timeout=10)
        socket.send("start_session")
        positions.append(socket.expect("session.queued", timeout=15)["position"])

    threads = [threading.Thread(target=arrive, args=(s,)) for s in sockets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(positions) == [1, 2, 3, 4, 5, 6]


def test_raising_an_agents_capacity_serves_the_next_waiting_customer(
        stack: Stack, admin: str, connect: Connect) -> None:
    agent, agent_socket = online_agent(stack, connect, "Ann", max_concurrent=1)
    _, first = start_visitor(stack, connect, "Uma")
    first.expect("session.assigned")
    _, waiting = start_visitor(stack, connect, "Vic")
    queued = waiting.expect("session.queued", position=1)

    response = api(stack, "PATCH", f"/api/agents/{agent.id}", admin, json={"max_concurrent": 2})

    assert response.status_code == 200, response.text
    assert waiting.expect("session.assigned", session_id=queued["session_id"])["agent"]["id"] == agent.id
    agent_socket.expect("session.assigned", session_id=queued["session_id"])


def test_releasing_a_customer_ends_their_session_and_serves_the_next(stack: Stack, connect: Connect) -> None:
    agent, agent_socket = online_agent(stack, connect, "Ann", max_concurrent=1)
    customer, first = start_visitor(stack, connect, "Uma")
    current = first.expect("session.assigned")["session_id"]
    _, waiting = start_visitor(stack, connect, "Vic")
    queued = waiting.expect("session.queued", position=1)

    response = api(stack, "POST", f"/api/kefu/release/{customer.id}", agent.token)

    assert response.status_code == 200, response.text
    assert response.json()["released_agent_id"] == agent.id
    for socket in (first, agent_socket):
        assert socket.expect("session.ended", session_id=current)["ended_by"] == agent.id
    waiting.expect("session.assigned", session_id=queued["session_id"])
    agent_socket.expect("session.assigned", session_id=queued["session_id"])


def test_an_agent_going_offline_hands_their_customer_to_the_front_of_the_queue(
        stack: Stack, connect: Connect) -> None:
    ann, ann_socket = online_agent(stack, connect, "Ann", max_concurrent=1)
    _, customer = start_visitor(stack, connect, "Uma")
    session_id = customer.expect("session.assigned")["session_id"]
    _, newcomer = start_visitor(stack, connect, "Vic")
    newcomer_session = newcomer.expect("session.queued", position=1)["session_id"]

    set_status(stack, ann, "offline")

    ann_socket.expect("session.released", session_id=session_id)
    assert customer.expect("session.queued", session_id=session_id)["position"] == 1
    assert newcomer.expect("session.queued", session_id=newcomer_session)["position"] == 2
    bob, bob_socket = online_agent(stack, connect, "Bob", max_concurrent=1)
    assert customer.expect("session.assigned", session_id=session_id)["agent"]["id"] == bob.id
    bob_socket.expect("session.assigned", session_id=session_id)


# ---- transfer ------------------------------------------------------------------------------------

def test_a_transfer_tells_both_agents_and_the_customer_and_moves_the_conversation(
        stack: Stack, connect: Connect) -> None:
    (ann, ann_socket), (bob, bob_socket) = (online_agent(stack, connect, n) for n in ("Ann", "Bob"))
    sockets = {ann.id: ann_socket, bob.id: bob_socket}
    people = {ann.id: ann, bob.id: bob}
    _, customer = start_visitor(stack, connect, "Uma")
    assigned = customer.expect("session.assigned")
    session_id = assigned["session_id"]
    source = people[assigned["agent"]["id"]]
    target = bob if source is ann else ann
    sockets[source.id].expect("session.assigned", session_id=session_id)

    response = api(stack, "POST", f"/api/sessions/{session_id}/transfer", source.token,
                   json={"agent_id": target.id})

    assert response.status_code == 200, response.text
    assert response.json()["agent"] == {"id": target.id, "name": target.name}
    for socket in (customer, sockets[source.id], sockets[target.id]):
        told = socket.expect("session.transferred", session_id=session_id)
        assert told["from_agent"]["id"] == source.id
        assert told["agent"] == {"id": target.id, "name": target.name}
    message = customer.send_message(session_id, "hello again")
    assert sockets[target.id].expect("message.new")["message"] == message
    assert [f for f in sockets[source.id].sync() if f["type"] == "message.new"] == []
    sockets[source.id].send("send_message", session_id=session_id, client_msg_id="old", text="still here")
    sockets[source.id].expect_error("forbidden", client_msg_id="old")


def test_a_message_sent_as_the_session_is_transferred_reaches_the_new_agent(
        stack: Stack, connect: Connect) -> None:
    """The transfer commits between the message's read of the session and its write: the
    message must go to the agent the session has when it is stored, not the one read before."""
    (ann, ann_socket), (bob, bob_socket) = (online_agent(stack, connect, n) for n in ("Ann", "Bob"))
    sockets = {ann.id: ann_socket, bob.id: bob_socket}
    _, customer = start_visitor(stack, connect, "Uma")
    assigned = customer.expect("session.assigned")
    session_id, source = assigned["session_id"], assigned["agent"]["id"]
    target = bob if source == ann.id else ann
    messages_table = get_config().table_name("messages")

    def transfer_now() -> None:
        assignment.transfer(session_id, target.id, by_user=source)

    with faults.before("TransactWriteItems", transfer_now,
                       when=lambda body: any(item.get("Put", {}).get("TableName") == messages_table
                                             for item in body.get("TransactItems", []))) as injected:
        message = customer.send_message(session_id, "are you there?")

    assert injected.injected == {"TransactWriteItems": 1}
    sockets[target.id].expect("session.transferred", session_id=session_id)
    assert sockets[target.id].expect("message.new")["message"] == message
    assert [f for f in sockets[source].sync() if f["type"] == "message.new"] == []


def test_a_transfer_to_a_full_agent_is_refused_and_the_customer_stays(stack: Stack, connect: Connect) -> None:
    bob, bob_socket = online_agent(stack, connect, "Bob", max_concurrent=1)
    _, bobs_customer = start_visitor(stack, connect, "Uma")
    assert bobs_customer.expect("session.assigned")["agent"]["id"] == bob.id
    ann, ann_socket = online_agent(stack, connect, "Ann")
    _, customer = start_visitor(stack, connect, "Vic")
    session_id = customer.expect("session.assigned")["session_id"]

    response = api(stack, "POST", f"/api/sessions/{session_id}/transfer", ann.token, json={"agent_id": bob.id})

    assert response.status_code == 409
    assert response.json()["error"] == "capacity_full"
    assert api(stack, "GET", f"/api/sessions/{session_id}", ann.token).json()["agent"]["id"] == ann.id
    assert [f for f in customer.sync() if f["type"] == "session.transferred"] == []


# ---- presence ------------------------------------------------------------------------------------

def test_an_agent_whose_socket_died_without_a_disconnect_gets_no_customer_once_the_heartbeat_window_passes(
        stack: Stack, admin: str, connect: Connect, short_heartbeat_window: float,
        lose_disconnect_of: Callable[[Peer], None]) -> None:
    ghost, ghost_socket = online_agent(stack, connect, "Ghost")
    ghost_socket.ping()
    lose_disconnect_of(ghost_socket)
    abort(ghost_socket.client)  # no close frame, and API Gateway never calls $disconnect
    wait_for(lambda: ghost_socket.connection_id not in stack.gateway.connection_ids())
    time.sleep(short_heartbeat_window + 0.5)
    assert agent_overview(stack, admin, ghost.id)["status"] == "online"  # nobody told the app

    _, customer = start_visitor(stack, connect, "Uma")

    queued = customer.expect("session.queued")
    assert queued["position"] == 1
    assert agent_overview(stack, admin, ghost.id)["active"] == 0
    # A second agent who keeps pinging is the one who gets the customer.
    helper, helper_socket = online_agent(stack, connect, "Helper")
    assigned = customer.expect("session.assigned", session_id=queued["session_id"])
    assert assigned["agent"] == {"id": helper.id, "name": "Helper"}
    helper_socket.expect("session.assigned", session_id=queued["session_id"])
    assert agent_overview(stack, admin, ghost.id)["active"] == 0


def test_a_silent_agent_gets_no_customer_until_they_ping_again(
        stack: Stack, connect: Connect, short_heartbeat_window: float) -> None:
    agent, agent_socket = online_agent(stack, connect, "Ann")
    time.sleep(short_heartbeat_window + 0.5)  # the socket stays open, but nothing is sent on it

    _, customer = start_visitor(stack, connect, "Uma")
    queued = customer.expect("session.queued")
    assert queued["position"] == 1
    agent_socket.ping()

    assert customer.expect("session.assigned", session_id=queued["session_id"])["agent"]["id"] == agent.id
    agent_socket.expect("session.assigned", session_id=queued["session_id"])


def test_an_agent_whose_last_socket_closes_stops_getting_customers_at_once(
        stack: Stack, admin: str, connect: Connect) -> None:
    agent, socket = online_agent(stack, connect, "Ann")
    socket.client.close()
    wait_for(lambda: not agent_overview(stack, admin, agent.id)["is_available"])

    _, customer = start_visitor(stack, connect, "Uma")

    assert customer.expect("session.queued")["position"] == 1
    assert agent_overview(stack, admin, agent.id)["active"] == 0


def test_an_agent_who_reconnects_is_offered_new_customers_again(
        stack: Stack, admin: str, connect: Connect) -> None:
    agent, socket = online_agent(stack, connect, "Ann")
    socket.client.close()
    wait_for(lambda: not agent_overview(stack, admin, agent.id)["is_available"])

    again = connect(agent)

    _, customer = start_visitor(stack, connect, "Uma")
    assigned = customer.expect("session.assigned")
    assert assigned["agent"]["id"] == agent.id
    again.expect("session.assigned", session_id=assigned["session_id"])


def test_an_agent_who_reconnects_while_customers_wait_is_served_on_the_new_socket(
        stack: Stack, admin: str, connect: Connect) -> None:
    agent, socket = online_agent(stack, connect, "Ann")
    socket.client.close()
    wait_for(lambda: not agent_overview(stack, admin, agent.id)["is_available"])
    _, customer = start_visitor(stack, connect, "Uma")
    queued = customer.expect("session.queued", position=1)
    settle()  # the dispatch finds the customer on the queue index (seconds behind in a spike)

    again = connect(agent)
    again.ping()  # as the console does on open: the first frame on the new socket serves the queue

    assert customer.expect("session.assigned", session_id=queued["session_id"])["agent"]["id"] == agent.id
    assert again.request("ping", ("pong", "error"))["type"] == "pong"  # the socket is registered
    sessions = again.request("list_sessions", ("sessions", "error")).get("sessions")
    assert [s["session_id"] for s in sessions or []] == [queued["session_id"]]
    message = customer.send_message(queued["session_id"], "hello?")
    assert again.expect("message.new")["message"] == message


def test_an_agent_who_closes_one_of_two_tabs_keeps_getting_customers(stack: Stack, connect: Connect) -> None:
    agent, closing_tab = online_agent(stack, connect, "Ann")
    staying_tab = connect(agent)
    staying_tab.ping()
    closing_id = closing_tab.connection_id

    closing_tab.client.close()
    wait_for(lambda: connections.get(closing_id) is None)  # $disconnect has run...
    time.sleep(0.3)  # ...and had time to finish deciding about presence (a wrong decision sticks)

    _, customer = start_visitor(stack, connect, "Uma")

    assigned = customer.expect("session.assigned")
    assert assigned["agent"]["id"] == agent.id
    staying_tab.expect("session.assigned", session_id=assigned["session_id"])


def test_the_admin_can_create_an_agent_who_logs_in_and_serves_customers(
        stack: Stack, admin: str, connect: Connect) -> None:
    agent = create_agent(stack, admin, "Newbie", max_concurrent=1)
    agent_socket = go_online(stack, connect, agent)

    _, customer = start_visitor(stack, connect, "Uma")

    assert customer.expect("session.assigned")["agent"] == {"id": agent.id, "name": "Newbie"}
    agent_socket.expect("session.assigned")
