"""No live socket goes deaf: pushes reach every socket a user holds open, whatever happened to
their other sockets, and a socket whose record is gone never keeps its owner present.

The sockets a push reaches are the ids on the owner's item. A socket that fell silent (a laptop
asleep) is still open until API Gateway's 10-minute idle timeout; another socket closing must not
take it off the set, and any frame it sends puts it back."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from chalicelib import clock
from chalicelib.config import reload_config
from chalicelib.models import AgentModel, ConnectionModel, VisitorModel
from chalicelib.services import housekeeping
from devstack import Stack
from tests import faults
from tests.concurrency.invariants import settle
from tests.e2e.conftest import wait_for
from tests.e2e.protocol_helpers import Connect, agent_account, open_conversation, set_status, sign_up_visitor


class HeartbeatWindow:
    """Shortens the stack's heartbeat window (it runs in this process, on this config) for the
    part of a test that waits past it, and puts the suite's back."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch

    def shorten(self, seconds: float = 1.0) -> float:
        self._monkeypatch.setenv("KEFU_HEARTBEAT_WINDOW", str(seconds))
        return reload_config().heartbeat_window_seconds

    def restore(self) -> None:
        self._monkeypatch.undo()
        reload_config()


@pytest.fixture
def heartbeat_window(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeartbeatWindow]:
    window = HeartbeatWindow(monkeypatch)
    yield window
    window.restore()


def _socket_ids(model: type, user_id: str) -> set[str]:
    return set(model.get(user_id, consistent_read=True).socket_ids or ())


def test_an_agents_silent_laptop_still_gets_customers_after_their_phone_closes(
        stack: Stack, connect: Connect, fresh: None, heartbeat_window: HeartbeatWindow) -> None:
    ann = agent_account("Ann", 3)
    laptop = connect(ann)
    phone = connect(ann)
    set_status(stack, ann, "online")
    laptop.ping(), phone.ping()
    time.sleep(heartbeat_window.shorten() + 0.5)  # the laptop sleeps: open, silent past the window

    phone.client.close()
    wait_for(lambda: phone.connection_id not in _socket_ids(AgentModel, ann.id))
    heartbeat_window.restore()
    laptop.ping()  # the laptop wakes: back in the pool

    visitor = sign_up_visitor(stack, "Uma")
    customer = connect(visitor)
    customer.send("start_session")
    session_id = customer.expect("session.assigned")["session_id"]

    assert laptop.expect("session.assigned", session_id=session_id)["session_id"] == session_id
    message = customer.send_message(session_id, "hello?")
    assert laptop.expect("message.new")["message"]["id"] == message["id"]


def test_a_customers_silent_tab_still_gets_replies_after_their_other_tab_closes(
        stack: Stack, connect: Connect, fresh: None, heartbeat_window: HeartbeatWindow) -> None:
    talk = open_conversation(stack, connect)
    second_tab = connect(talk.visitor)
    second_tab.ping()
    time.sleep(heartbeat_window.shorten() + 0.5)  # the first tab sits in the background, silent

    second_tab.client.close()
    wait_for(lambda: second_tab.connection_id not in _socket_ids(VisitorModel, talk.visitor.id))
    reply = talk.agent_socket.send_message(talk.session_id, "still there?")

    assert talk.visitor_socket.expect("message.new")["message"]["id"] == reply["id"]


def test_a_frame_puts_its_socket_back_on_its_owners_set(stack: Stack, connect: Connect, fresh: None) -> None:
    talk = open_conversation(stack, connect)
    for model, person, socket in ((VisitorModel, talk.visitor, talk.visitor_socket),
                                  (AgentModel, talk.agent, talk.agent_socket)):
        # Taken off the set by mistake (any writer that judged it dead too early).
        model(person.id).update(actions=[model.socket_ids.delete({socket.connection_id})])

        socket.ping()

        assert socket.connection_id in _socket_ids(model, person.id)


def test_an_agent_whose_other_socket_record_expired_leaves_the_pool_when_their_last_socket_closes(
        stack: Stack, connect: Connect, fresh: None) -> None:
    ann = agent_account("Ann", 3)
    old = connect(ann)
    current = connect(ann)
    set_status(stack, ann, "online")
    old_id = old.connection_id
    # DynamoDB's TTL deleted the old socket's record; its $disconnect never came.
    ConnectionModel(old_id).delete()

    current.client.close()

    wait_for(lambda: AgentModel.get(ann.id, consistent_read=True).pool is None)
    assert _socket_ids(AgentModel, ann.id) == set()


def test_the_purge_takes_a_dead_socket_off_its_owners_set_and_the_agent_out_of_the_pool(
        stack: Stack, connect: Connect, fresh: None, time_passes) -> None:
    ann = agent_account("Ann", 3)
    socket = connect(ann)
    set_status(stack, ann, "online")
    dead_id = socket.connection_id
    stack.gateway.lose_disconnect_ids.add(dead_id)
    socket.client.close()  # its $disconnect is lost, as API Gateway may lose it
    wait_for(stack.gateway.is_idle)
    time_passes(11 * 60)  # past API Gateway's 10-minute idle timeout
    settle()  # the purge finds candidates on an index, seconds behind at worst (KEFU_SIM=aws)

    assert housekeeping.purge_dead_connections() >= 1

    agent = AgentModel.get(ann.id, consistent_read=True)
    assert dead_id not in set(agent.socket_ids or ())
    assert agent.pool is None
    assert agent.disconnected_at is not None and agent.disconnected_at <= clock.epoch()


def test_a_socket_that_speaks_while_the_purge_decides_keeps_its_record(
        stack: Stack, connect: Connect, fresh: None, time_passes) -> None:
    ann = agent_account("Ann", 3)
    socket = connect(ann)
    set_status(stack, ann, "online")
    connection_id = socket.connection_id
    time_passes(11 * 60)  # idle past API Gateway's timeout as far as anyone has read

    def its_delete(params: dict) -> bool:
        return params.get("Key", {}).get("connection_id", {}).get("S") == connection_id

    settle()  # the purge finds its candidates on an index, seconds behind at worst (KEFU_SIM=aws)
    with faults.before("DeleteItem", socket.ping, when=its_delete) as spoke:  # it speaks just then
        housekeeping.purge_dead_connections()

    assert spoke.injected == {"DeleteItem": 1}  # the race happened
    assert ConnectionModel.get(connection_id, consistent_read=True).connection_id == connection_id
    assert connection_id in _socket_ids(AgentModel, ann.id)
