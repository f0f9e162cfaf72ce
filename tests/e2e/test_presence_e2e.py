"""Presence an agent and a customer can see, through real sockets on the local stack: why an agent
left the pool and how they come back, and one position notice for a customer handed back."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from chalicelib.config import get_config, reload_config
from devstack import Stack
from tests.concurrency.invariants import settle
from tests.e2e.protocol_helpers import Connect, Peer, Person, api, online_agent, set_status, sign_up_visitor


@pytest.fixture
def short_heartbeat_window(monkeypatch: pytest.MonkeyPatch) -> Iterator[float]:
    """A 2-second heartbeat window for the stack (it runs in this process, on this config)."""
    monkeypatch.setenv("KEFU_HEARTBEAT_WINDOW", "2")
    reload_config()
    yield get_config().heartbeat_window_seconds
    monkeypatch.undo()
    reload_config()


def start_visitor(stack: Stack, connect: Connect, name: str) -> tuple[Person, Peer]:
    visitor = sign_up_visitor(stack, name)
    socket = connect(visitor)
    socket.send("start_session")
    return visitor, socket


def test_a_customer_handed_back_to_the_queue_is_told_their_place_once(
        stack: Stack, connect: Connect, fresh: None) -> None:
    ann, _ = online_agent(stack, connect, "Ann", max_concurrent=1)
    _, customer = start_visitor(stack, connect, "Uma")
    session_id = customer.expect("session.assigned")["session_id"]

    set_status(stack, ann, "offline")

    assert customer.expect("session.queued", session_id=session_id)["position"] == 1
    time.sleep(0.5)
    assert [f for f in customer.sync() if f["type"] == "session.queued"] == []


def test_a_silent_agent_is_told_they_left_the_pool_and_any_frame_brings_them_back(
        stack: Stack, connect: Connect, admin: str, short_heartbeat_window: float) -> None:
    _, agent_socket = online_agent(stack, connect, "Ann")
    time.sleep(short_heartbeat_window + 0.5)  # the socket stays open, but nothing is sent on it
    settle()  # the sweep finds the silent on the pool index, seconds behind in a lag spike

    report = api(stack, "POST", "/api/kefu/cleanup", admin).json()

    assert report["agents_unpooled"]
    told = agent_socket.expect("agent.presence")
    assert (told["status"], told["reason"]) == ("online", "inactive")
    agent_socket.send("ping")
    back = agent_socket.expect("agent.presence")
    assert (back["status"], back["reason"]) == ("online", "active")
