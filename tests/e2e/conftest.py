"""The real local stack, in this process, on free ports, on the suite's moto server.

``stack`` is session scoped (starting it imports the app and opens three servers); tests that change
a gateway seam put it back. ``ws_connect`` opens real WebSocket clients and closes them afterwards.
"""

from __future__ import annotations

import json
import socket
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as open_websocket

from chalicelib.services import agents, tokens
from chalicelib.services.tokens import Principal
from devstack import Stack
from tests.conftest import reset_tables
from tests.e2e.test_web_ui import CHROMIUM, LAUNCH_ARGS, _ensure_chromium, _unavailable
from tests.e2e.widget_support import widget_tab  # noqa: F401  (the widget's browser tests)

Connect = Callable[..., ClientConnection]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Headless Chromium, launched once per test worker and shared by every browser test: each
    test opens contexts of its own (its own storage, cookies and pages), so nothing of one test
    reaches the next, and the second of CPU a launch costs is paid once instead of per module."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -r requirements-dev.txt)")
    _ensure_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    reset_tables()
    local = Stack(schedules=False)
    local.start()
    yield local
    local.stop()


def agent_token(role: str = "admin", name: str = "x") -> str:
    """A token for a new agent. ``$connect`` only checks the signature, but ``$disconnect`` updates
    the agent's presence, which needs the agent to exist."""
    agent = agents.create_agent(f"e2e-{uuid.uuid4().hex[:12]}", "e2e password", display_name=name,
                                role=role)
    token, _ = tokens.issue(Principal(user_id=agent.agent_id, typ="agent", role=role, name=name))
    return token


@pytest.fixture
def ws_connect(stack: Stack) -> Iterator[Connect]:
    """``ws_connect(token=None, **kwargs)``: a connected client; a token goes in ``?token=``."""
    opened: list[ClientConnection] = []

    def open_client(token: str | None = None, **kwargs: Any) -> ClientConnection:
        url = stack.ws_url if token is None else f"{stack.ws_url}?token={token}"
        client = open_websocket(url, open_timeout=10, close_timeout=2, **kwargs)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()


@pytest.fixture
def management(stack: Stack) -> Any:
    """The ordinary boto3 ``@connections`` client, pointed at the local gateway."""
    return boto3.client("apigatewaymanagementapi", endpoint_url=stack.management_endpoint,
                        region_name="us-east-1")


def recv_json(client: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    return json.loads(client.recv(timeout=timeout))


def ping(client: ClientConnection) -> dict[str, Any]:
    """Send a ping frame and return the pong (it names the connection id)."""
    client.send(json.dumps({"action": "ping"}))
    return recv_json(client)


def abort(client: ClientConnection) -> None:
    """Drop the TCP connection with a reset and no close frame, as a dead network would."""
    client.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.socket.close()


def wait_for(condition: Callable[[], Any], timeout: float = 5.0, interval: float = 0.05) -> Any:
    """Poll until ``condition()`` is truthy; returns its value or fails the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s")


@pytest.fixture
def fresh(stack: Stack) -> None:
    """Empty tables: nobody else online, nobody else waiting."""
    from tests.e2e.protocol_helpers import empty_the_stack

    empty_the_stack(stack)


@pytest.fixture
def admin(stack: Stack, fresh: None) -> str:
    """A token of the stack's seeded admin (after emptying: the admin is seeded again)."""
    from tests.e2e.protocol_helpers import admin_token

    return admin_token(stack)


@pytest.fixture
def connect(ws_connect: Connect) -> Callable[..., Any]:
    """``connect(person)``: a new real socket of that person, wrapped as a protocol ``Peer``."""
    from tests.e2e.protocol_helpers import Peer

    return lambda person: Peer(ws_connect(person.token))


@pytest.fixture
def sim_default() -> str:
    """End-to-end tests run on the realistic backend (devstack/sim.py) unless they switch."""
    return "aws"
