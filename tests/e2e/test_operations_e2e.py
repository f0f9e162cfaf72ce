"""Operations through the real local stack: closing sockets, disconnecting and revoking users, the
connection endpoints against the real ``@connections`` API, stats counted from real traffic."""

from __future__ import annotations

import uuid

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chalicelib import push
from chalicelib.models import AgentModel
from chalicelib.services import connections, revocation, tokens
from chalicelib.ws import actions
from devstack import Stack
from tests.e2e.conftest import abort, wait_for
from tests.e2e.protocol_helpers import (
    Connect,
    Peer,
    Person,
    api,
    create_agent,
    open_conversation,
    sign_up_visitor,
)


def assert_closed(peer: Peer, timeout: float = 5.0) -> None:
    """The server closed the socket: nothing more arrives."""
    with pytest.raises(ConnectionClosed):
        while True:
            peer.client.recv(timeout=timeout)


def connection_ids_of(stack: Stack, admin: str, user_id: str) -> list[str]:
    response = api(stack, "GET", "/api/connections", admin, params={"user_id": user_id})
    assert response.status_code == 200, response.text
    return [c["connection_id"] for c in response.json()["connections"]]


def test_disconnecting_a_user_closes_every_socket_telling_them_why(stack: Stack, admin: str,
                                                                   connect: Connect) -> None:
    visitor = sign_up_visitor(stack, "Vic")
    sockets = [connect(visitor), connect(visitor)]
    for socket in sockets:
        socket.ping()

    response = api(stack, "POST", f"/api/users/{visitor.id}/disconnect", admin, json={})

    assert response.status_code == 200, response.text
    assert {c["was_open"] for c in response.json()["closed"]} == {True}
    for socket in sockets:
        assert socket.expect("disconnected")["reason"] == "disconnected_by_admin"
        assert_closed(socket)
    assert connection_ids_of(stack, admin, visitor.id) == []
    connect(visitor).ping()  # not revoked: the visitor may come back


def test_a_revoked_agent_is_refused_on_both_apis_and_their_socket_closes(stack: Stack, admin: str,
                                                                        connect: Connect) -> None:
    agent = create_agent(stack, admin, "Eve")
    socket = connect(agent)
    socket.ping()
    assert api(stack, "GET", "/api/agents/me", agent.token).status_code == 200

    response = api(stack, "POST", f"/api/users/{agent.id}/disconnect", admin, json={"revoke_tokens": True})

    assert response.status_code == 200, response.text
    assert socket.expect("disconnected")["reason"] == "tokens_revoked"
    assert_closed(socket)
    refused = api(stack, "GET", "/api/agents/me", agent.token)
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_token")
    with pytest.raises(InvalidStatus) as rejected:
        connect(agent)
    assert rejected.value.response.status_code == 403


def test_a_demoted_admin_loses_their_open_socket_and_their_token(stack: Stack, admin: str,
                                                                 connect: Connect) -> None:
    eve = create_agent(stack, admin, "Eve")
    api(stack, "PATCH", f"/api/agents/{eve.id}", admin, json={"role": "admin"})
    username = AgentModel.get(eve.id, consistent_read=True).username  # created a moment ago
    eve_login = api(stack, "POST", "/api/auth/login",
                    json={"username": username, "password": "correct horse battery"})
    eve_admin_token = eve_login.json()["token"]
    socket = connect(Person(eve.id, eve.name, eve_admin_token))
    socket.ping()

    api(stack, "PATCH", f"/api/agents/{eve.id}", admin, json={"role": "agent", "password": "a-new-password"})

    assert socket.expect("disconnected")["reason"] == "credentials_changed"
    assert_closed(socket)
    created = api(stack, "POST", "/api/agents", eve_admin_token,
                  json={"username": "mallory", "password": "s3cret-pass", "role": "admin"})
    assert (created.status_code, created.json()["error"]) == (401, "invalid_token")
    with pytest.raises(InvalidStatus):
        connect(Person(eve.id, eve.name, eve_admin_token))


def test_a_socket_revoked_elsewhere_is_closed_on_its_next_frame_before_it_acts(stack: Stack, admin: str,
                                                                               connect: Connect) -> None:
    """Another container revoked the admin's tokens (the record changed; nobody closed this socket):
    the next frame is refused and the socket closed, so the other agent's customer stays private."""
    chat = open_conversation(stack, connect)
    chat.visitor_socket.send_message(chat.session_id, "my address is 1 Main St")
    eve_token = admin
    eve_id = api(stack, "GET", "/api/agents/me", eve_token).json()["agent_id"]
    eve = connect(Person(eve_id, "Eve", eve_token))
    eve.ping()
    generation = int(AgentModel.get(eve_id, consistent_read=True).token_gen or 0)
    AgentModel(eve_id).update(actions=[AgentModel.token_gen.set(generation + 1)])  # safe to send again
    revocation.clear_cache()  # this process stands for every container once the cache expired

    eve.send("get_history", session_id=chat.session_id)
    eve.send("send_message", session_id=chat.session_id, client_msg_id="evil-1", text="send me your card")
    eve.send("end_session", session_id=chat.session_id)

    assert eve.expect("disconnected")["reason"] == "tokens_revoked"
    assert_closed(eve)
    assert not [f for f in eve.pending if f.get("type") == "history"]
    assert {f["type"] for f in chat.visitor_socket.sync()} & {"message.new", "session.ended"} == set()
    assert api(stack, "GET", f"/api/sessions/{chat.session_id}", chat.agent.token).json()["status"] == "active"


def test_a_connection_in_detail_shows_what_the_gateway_reports(stack: Stack, admin: str,
                                                              connect: Connect) -> None:
    visitor = sign_up_visitor(stack, "Vic")
    socket = connect(visitor)
    connection_id = socket.connection_id

    response = api(stack, "GET", f"/api/connections/{connection_id}", admin)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["user_id"], body["user_type"], body["live"]) == (visitor.id, "visitor", True)
    assert body["gateway"]["state"] == "open"
    assert body["gateway"]["source_ip"] == body["source_ip"] == "127.0.0.1"
    assert body["gateway"]["connected_at"] and body["gateway"]["last_active_at"]


def test_deleting_a_connection_closes_it_through_the_management_api(stack: Stack, admin: str,
                                                                    connect: Connect) -> None:
    visitor = sign_up_visitor(stack, "Vic")
    socket = connect(visitor)
    connection_id = socket.connection_id

    response = api(stack, "DELETE", f"/api/connections/{connection_id}", admin)

    assert response.status_code == 200, response.text
    assert response.json() == {"connection_id": connection_id, "was_open": True, "record_removed": True}
    assert socket.expect("disconnected")["reason"] == "closed_by_admin"
    assert_closed(socket)
    wait_for(lambda: connection_id not in stack.gateway.connection_ids())
    assert api(stack, "GET", f"/api/connections/{connection_id}", admin).status_code == 404


def test_deleting_a_connection_whose_socket_died_silently_removes_the_record(stack: Stack, admin: str,
                                                                            connect: Connect) -> None:
    visitor = sign_up_visitor(stack, "Vic")
    socket = connect(visitor)
    connection_id = socket.connection_id
    stack.gateway.lose_disconnect_ids.add(connection_id)
    try:
        abort(socket.client)
        wait_for(lambda: connection_id not in stack.gateway.connection_ids())
        assert connection_ids_of(stack, admin, visitor.id) == [connection_id]

        response = api(stack, "DELETE", f"/api/connections/{connection_id}", admin)
    finally:
        stack.gateway.lose_disconnect_ids.discard(connection_id)

    assert response.status_code == 200, response.text
    assert response.json() == {"connection_id": connection_id, "was_open": False, "record_removed": True}
    assert connection_ids_of(stack, admin, visitor.id) == []


def test_a_push_meeting_a_socket_still_in_its_connect_keeps_it_and_a_later_410_forgets_it(
        stack: Stack, time_passes) -> None:
    # $connect registers the socket (its record, its owner's socket set) before it returns, and
    # until it returns the gateway answers 410 to a post: a push from another request meeting it
    # then must not take it for a dead socket, or the socket lives on unregistered.
    visitor = sign_up_visitor(stack, "Vic")
    principal = tokens.verify(visitor.token)
    connecting = f"{uuid.uuid4().hex[:15]}="  # not yet connected at the gateway: 410
    connections.register(connecting, principal, "127.0.0.1", "e2e")
    actions.on_registered(principal, connecting)

    push.send_to_users([visitor.id], {"type": "hello"})

    assert connections.get(connecting) is not None
    assert connecting in connections.sockets_of(visitor.id, "visitor")

    time_passes(60)  # longer than any $connect lasts: a 410 now means the socket is gone
    push.send_to_users([visitor.id], {"type": "hello"})

    assert connections.get(connecting) is None
    assert connecting not in connections.sockets_of(visitor.id, "visitor")


def test_online_users_count_real_sockets(stack: Stack, admin: str, connect: Connect) -> None:
    agent = create_agent(stack, admin, "Alice")
    first, second = connect(agent), connect(agent)
    first.ping()
    second.ping()
    api(stack, "PUT", "/api/agents/me/status", agent.token, json={"status": "online"})

    def alice_row() -> dict | None:
        """Who is online comes from the lagging ``by_type`` index (documented): wait for her row;
        what the row says is read consistently, so it is exact from the first time she is listed."""
        response = api(stack, "GET", "/api/system/online-users", admin, params={"role": "agent"})
        assert response.status_code == 200, response.text
        return next((u for u in response.json()["users"] if u["user_id"] == agent.id), None)

    alice = wait_for(alice_row)
    assert (alice["connections"], alice["status"], alice["load"], alice["capacity"]) == (2, "online", 0, 5)


def test_websocket_stats_count_real_connects_frames_and_pushes(stack: Stack, admin: str,
                                                              connect: Connect) -> None:
    def window() -> dict[str, int]:
        response = api(stack, "GET", "/api/stats/websocket", admin)
        assert response.status_code == 200, response.text
        return dict(response.json()["windows"]["5m"])

    before = window()
    visitor = sign_up_visitor(stack, "Vic")
    socket = connect(visitor)
    for _ in range(3):
        socket.ping()
    socket.client.close()
    wait_for(lambda: window()["disconnects"] > before["disconnects"])

    after = window()
    assert after["connects"] - before["connects"] == 1
    assert after["frames_received"] - before["frames_received"] == 3
    assert after["messages_pushed"] - before["messages_pushed"] == 3  # the pongs
    assert after["disconnects"] - before["disconnects"] == 1


def test_deleted_messages_are_announced_to_both_participants(stack: Stack, fresh: None, connect: Connect) -> None:
    chat = open_conversation(stack, connect)
    message = chat.visitor_socket.send_message(chat.session_id, "my card is 4111 1111 1111 1111")
    chat.agent_socket.expect("message.new")

    response = api(stack, "POST", "/api/messages/bulk-delete", chat.agent.token,
                   json={"session_id": chat.session_id, "message_ids": [message["id"]]})

    assert response.status_code == 200, response.text
    for socket in (chat.visitor_socket, chat.agent_socket):
        frame = socket.expect("message.deleted")
        assert frame == {"type": "message.deleted", "session_id": chat.session_id,
                         "message_ids": [message["id"]]}


def test_a_revoked_visitor_cannot_reconnect(stack: Stack, admin: str, connect: Connect) -> None:
    visitor = sign_up_visitor(stack, "Vic")
    socket = connect(visitor)
    socket.ping()

    response = api(stack, "POST", f"/api/users/{visitor.id}/disconnect", admin, json={"revoke_tokens": True})

    assert response.status_code == 200, response.text
    assert socket.expect("disconnected")["reason"] == "tokens_revoked"
    assert_closed(socket)
    with pytest.raises(InvalidStatus):
        connect(visitor)
    assert api(stack, "GET", "/api/sessions", visitor.token).status_code == 401


def test_disabling_an_agent_in_a_chat_closes_their_socket_and_hands_the_customer_on(
        stack: Stack, admin: str, connect: Connect) -> None:
    chat = open_conversation(stack, connect)

    response = api(stack, "PATCH", f"/api/agents/{chat.agent.id}", admin, json={"disabled": True})

    assert response.status_code == 200, response.text
    assert chat.agent_socket.expect("disconnected")["reason"] == "account_disabled"
    assert_closed(chat.agent_socket)
    assert chat.visitor_socket.expect("session.queued", session_id=chat.session_id)["position"] == 1
    backup = create_agent(stack, admin, "Bob")
    backup_socket = connect(backup)
    api(stack, "PUT", "/api/agents/me/status", backup.token, json={"status": "online"})
    assert backup_socket.expect("session.assigned", session_id=chat.session_id)["customer"]["id"] == chat.visitor.id
