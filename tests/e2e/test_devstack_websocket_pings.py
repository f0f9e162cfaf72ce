"""The local gateway answers a client's pings while that socket has a backlog of frames, as API
Gateway answers control frames independently of the Lambda backlog (issue 8, section 3; issue 18,
part 6), and bounds that backlog: a frame that finds it full is refused as API Gateway refuses a
throttled one, never buffered without limit."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from devstack.websocket import GoneError, WebSocketGateway

FRAMES = 120
HANDLER_SECONDS = 0.03  # the backlog takes FRAMES * HANDLER_SECONDS = 3.6 s to drain
BURST = 400
BURST_HANDLER_SECONDS = 0.01  # 4 s of work for the burst


class SlowApp:
    """Handlers that take a while; optionally each frame is answered through ``@connections``, as
    the app answers every frame."""

    def __init__(self, seconds: float, reply: bool = False) -> None:
        self.seconds = seconds
        self.reply = reply
        self.handled: list[str] = []
        self.gateway: WebSocketGateway | None = None
        self._lock = threading.Lock()

    def __call__(self, route: str, event: dict[str, Any]) -> dict[str, Any]:
        if route == "$default":
            time.sleep(self.seconds)
            with self._lock:
                self.handled.append(event["body"])
            if self.reply and self.gateway is not None:
                with contextlib.suppress(GoneError):
                    self.gateway.post(event["requestContext"]["connectionId"],
                                      json.dumps({"type": "reply", "to": event["body"]}).encode())
        return {"statusCode": 200}

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.handled) < count and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.fixture
def start_gateway() -> Iterator[Callable[..., tuple[WebSocketGateway, SlowApp]]]:
    started: list[WebSocketGateway] = []

    def start(seconds: float, reply: bool = False, **options: Any) -> tuple[WebSocketGateway, SlowApp]:
        app = SlowApp(seconds, reply)
        gateway = WebSocketGateway(app, **options)
        app.gateway = gateway
        gateway.start()
        started.append(gateway)
        return gateway, app

    yield start
    for gateway in started:
        gateway.stop()


@contextlib.contextmanager
def reading(client: ClientConnection) -> Iterator[list[dict[str, Any]]]:
    """Read every message the client gets, as a browser does whatever its page is busy with."""
    received: list[dict[str, Any]] = []

    def read() -> None:
        with contextlib.suppress(ConnectionClosed):
            for message in client:
                received.append(json.loads(message))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    yield received


def test_pings_are_answered_while_frames_are_backlogged(start_gateway):
    gateway, app = start_gateway(HANDLER_SECONDS)
    with connect(gateway.url, ping_interval=0.2, ping_timeout=1.0, close_timeout=2) as client:
        for n in range(FRAMES):
            client.send(f"frame {n}")
        for _ in range(5):
            started = time.monotonic()
            assert client.ping().wait(timeout=1.0), "no pong while frames were backlogged"
            assert time.monotonic() - started < 1.0
            time.sleep(0.2)
        assert len(app.handled) < FRAMES, "the backlog drained before the pings: the test proves nothing"
        app.wait_for(FRAMES, FRAMES * HANDLER_SECONDS * 3)
        client.ping().wait(timeout=1.0)  # keepalive never gave up: the socket is still open
    assert app.handled == [f"frame {n}" for n in range(FRAMES)]


def test_a_ping_is_answered_within_seconds_while_a_burst_of_400_answered_frames_is_processed(start_gateway):
    gateway, app = start_gateway(BURST_HANDLER_SECONDS, reply=True)
    with connect(gateway.url, ping_interval=None, close_timeout=2) as client, reading(client) as received:
        for n in range(BURST):
            client.send(f"frame {n}")
        for _ in range(5):
            assert client.ping().wait(timeout=3.0), "no pong within 3 s of a ping during the burst"
            time.sleep(0.3)
        assert len(app.handled) < BURST, "the burst was over before the pings: the test proves nothing"
        app.wait_for(BURST, BURST * BURST_HANDLER_SECONDS * 4)
        assert client.ping().wait(timeout=3.0)
    assert app.handled == [f"frame {n}" for n in range(BURST)]  # in order, none lost
    assert [m["to"] for m in received] == app.handled


def test_frames_finding_the_backlog_full_are_refused_as_throttled_and_pings_still_answered(start_gateway):
    gateway, app = start_gateway(BURST_HANDLER_SECONDS)
    gateway.max_backlog_frames = 20  # for sockets opened from now on
    with connect(gateway.url, ping_interval=None, close_timeout=2) as client, reading(client) as received:
        for n in range(BURST):
            client.send(f"frame {n}")
        assert client.ping().wait(timeout=3.0)
        deadline = time.monotonic() + BURST * BURST_HANDLER_SECONDS * 4
        while len(app.handled) + len(received) < BURST and time.monotonic() < deadline:
            time.sleep(0.05)
        connection_id = {m.get("connectionId") for m in received}
    assert {m["message"] for m in received} == {"Too Many Requests"} and None not in connection_id
    assert len(app.handled) + len(received) == BURST  # each frame handled or refused, once
    numbers = [int(body.split()[1]) for body in app.handled]
    assert numbers == sorted(numbers) and len(numbers) < BURST / 2  # in order; the flood was not buffered
