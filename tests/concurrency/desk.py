"""Sockets without a network: API Gateway's WebSocket events handed to the app's own handlers, and
a ``@connections`` sink that keeps every frame posted, per connection.

The state machine drives presence the way API Gateway does (``$connect``, a frame, ``$disconnect``,
or nothing at all when a socket dies silently) in the test's own thread, so a step is finished
when its call returns. Frames the app posts land in ``PushSink``; a frame of code
``internal_error`` is a 500 that the handler turned into a frame, and fails the step.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from chalice.app import WebsocketEvent

from chalicelib.config import reload_config
from devstack.serving import BackgroundServer


class PushSink:
    """An ``@connections`` endpoint where every connection is connected: it keeps what is posted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.frames: dict[str, list[dict[str, Any]]] = defaultdict(list)
        # Every frame ever posted, in arrival order: (sequence, connection id, frame).
        self.log: list[tuple[int, str, dict[str, Any]]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                connection_id = unquote(self.path.rstrip("/").rsplit("/", 1)[-1])
                with sink._lock:
                    frame = json.loads(body)
                    sink.frames[connection_id].append(frame)
                    sink.log.append((len(sink.log), connection_id, frame))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self._server = BackgroundServer(ThreadingHTTPServer(("127.0.0.1", 0), Handler), "push-sink")
        self.endpoint = f"http://127.0.0.1:{self._server.server.server_address[1]}"

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def mark(self) -> int:
        """The sequence the next posted frame will have (a socket opened now gets frames from it on)."""
        with self._lock:
            return len(self.log)

    def since(self, mark: int) -> list[tuple[int, str, dict[str, Any]]]:
        with self._lock:
            return self.log[mark:]

    def take_errors(self, code: str = "internal_error") -> list[tuple[str, dict[str, Any]]]:
        """Error frames of ``code`` posted since the last call (and forget every frame so far)."""
        with self._lock:
            found = [(cid, f) for cid, frames in self.frames.items() for f in frames
                     if f.get("type") == "error" and f.get("code") == code]
            self.frames.clear()
        return found

    def forget_log(self) -> None:
        with self._lock:
            self.log.clear()


@contextmanager
def pushes_to_sink() -> Iterator[PushSink]:
    """Point the app's ``@connections`` client at a fresh sink for the duration."""
    sink = PushSink()
    sink.start()
    before = os.environ.get("KEFU_WS_MANAGEMENT_ENDPOINT")
    os.environ["KEFU_WS_MANAGEMENT_ENDPOINT"] = sink.endpoint
    reload_config()
    try:
        yield sink
    finally:
        if before is None:
            os.environ.pop("KEFU_WS_MANAGEMENT_ENDPOINT", None)
        else:
            os.environ["KEFU_WS_MANAGEMENT_ENDPOINT"] = before
        reload_config()
        sink.stop()


def frame_key(frame: dict[str, Any]) -> str:
    """A frame's identity for comparing what two sockets received."""
    return json.dumps(frame, sort_keys=True)


def _event(connection_id: str, route_key: str, event_type: str, **extra: Any) -> WebsocketEvent:
    context = {"routeKey": route_key, "eventType": event_type, "connectionId": connection_id,
               "domainName": "sink.local", "stage": "test", "apiId": "local",
               "identity": {"sourceIp": "127.0.0.1", "userAgent": "state-machine"}}
    return WebsocketEvent({"requestContext": context, **extra}, None)


def new_connection_id() -> str:
    return f"{uuid.uuid4().hex[:14]}Q="


def connect(token: str) -> str | None:
    """``$connect`` with ``?token=``; the new connection's id, or None when it was refused."""
    from chalicelib.ws import handlers

    connection_id = new_connection_id()
    answer = handlers.handle_connect(_event(connection_id, "$connect", "CONNECT",
                                            queryStringParameters={"token": token}))
    status = answer.get("statusCode") if isinstance(answer, dict) else answer.status_code
    return connection_id if status == 200 else None


def send(connection_id: str, action: str, **fields: Any) -> None:
    """One client frame through ``$default``."""
    from chalicelib.ws import handlers

    handlers.handle_message(_event(connection_id, "$default", "MESSAGE",
                                   body=json.dumps({"action": action, **fields})))


def disconnect(connection_id: str) -> None:
    from chalicelib.ws import handlers

    handlers.handle_disconnect(_event(connection_id, "$disconnect", "DISCONNECT"))
