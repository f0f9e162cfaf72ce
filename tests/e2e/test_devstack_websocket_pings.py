"""The local gateway answers a client's pings while that socket has a backlog of frames, as API
Gateway answers control frames independently of the Lambda backlog (issue 8, section 3)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from websockets.sync.client import connect

from devstack.websocket import WebSocketGateway

FRAMES = 120
HANDLER_SECONDS = 0.03  # the backlog takes FRAMES * HANDLER_SECONDS = 3.6 s to drain


@pytest.fixture
def slow_gateway():
    handled: list[str] = []
    lock = threading.Lock()

    def invoke(route: str, event: dict[str, Any]) -> dict[str, Any]:
        if route == "$default":
            time.sleep(HANDLER_SECONDS)
            with lock:
                handled.append(event["body"])
        return {"statusCode": 200}

    gateway = WebSocketGateway(invoke)
    gateway.start()
    yield gateway, handled
    gateway.stop()


def test_pings_are_answered_while_frames_are_backlogged(slow_gateway):
    gateway, handled = slow_gateway
    with connect(gateway.url, ping_interval=0.2, ping_timeout=1.0, close_timeout=2) as client:
        for n in range(FRAMES):
            client.send(f"frame {n}")
        for _ in range(5):
            started = time.monotonic()
            assert client.ping().wait(timeout=1.0), "no pong while frames were backlogged"
            assert time.monotonic() - started < 1.0
            time.sleep(0.2)
        assert len(handled) < FRAMES, "the backlog drained before the pings: the test proves nothing"
        deadline = time.monotonic() + FRAMES * HANDLER_SECONDS * 3
        while len(handled) < FRAMES and time.monotonic() < deadline:
            time.sleep(0.05)
        client.ping().wait(timeout=1.0)  # keepalive never gave up: the socket is still open
    assert handled == [f"frame {n}" for n in range(FRAMES)]
