"""The ``@connections`` management API over plain HTTP, answering as API Gateway's does.

boto3's ``apigatewaymanagementapi`` client works against it unchanged (any credentials: nothing is
signed-checked). It is REST-JSON: ``POST`` sends the raw body as one frame, ``GET`` describes,
``DELETE`` closes; an unknown or closed id is 410 with ``x-amzn-ErrorType: GoneException`` (the
header is what makes boto3 raise ``GoneException``); a post over 128 KB is 413.

It listens on its own port: websockets' HTTP parser refuses request bodies, so sharing the
WebSocket port would mean re-implementing the handshake.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from devstack.serving import BackgroundServer
from devstack.websocket import MAX_MESSAGE_BYTES, GoneError, WebSocketGateway

log = logging.getLogger(__name__)

# ``/@connections/{id}`` or, as the deployed endpoint includes the stage, ``/{stage}/@connections/{id}``.
_PATH = re.compile(r"^(?:/[^/]+)?/@connections/(?P<id>[^/]+)/?$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        connection_id = self._connection_id()
        if connection_id is None:
            return
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        if len(data) > MAX_MESSAGE_BYTES:
            self._error(413, "PayloadTooLargeException",
                        f"Message too long. Max message size is {MAX_MESSAGE_BYTES} bytes")
            return
        try:
            self.server.gateway.post(connection_id, data)
        except GoneError:
            self._gone()
            return
        self._send(200, b"")

    def do_GET(self) -> None:
        connection_id = self._connection_id()
        if connection_id is None:
            return
        try:
            description = self.server.gateway.describe(connection_id)
        except GoneError:
            self._gone()
            return
        self._send(200, json.dumps(description).encode())

    def do_DELETE(self) -> None:
        connection_id = self._connection_id()
        if connection_id is None:
            return
        try:
            self.server.gateway.delete(connection_id)
        except GoneError:
            self._gone()
            return
        self._send(204, None)

    def _connection_id(self) -> str | None:
        match = _PATH.match(urlsplit(self.path).path)
        if match is None:
            # The body must still be read, or keep-alive clients see it as the next request.
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self._error(404, "NotFoundException", "No method found matching route")
            return None
        return unquote(match.group("id"))

    def _gone(self) -> None:
        self._send(410, b'{"message":null}', error_type="GoneException")

    def _error(self, status: int, error_type: str, message: str) -> None:
        self._send(status, json.dumps({"message": message}).encode(), error_type=error_type)

    def _send(self, status: int, body: bytes | None, error_type: str | None = None) -> None:
        self.send_response(status)
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        if body is None:
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("@connections %s", format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # pushes of a fan-out arrive together (socketserver's default: 5)

    def __init__(self, address: tuple[str, int], gateway: WebSocketGateway) -> None:
        self.gateway = gateway
        super().__init__(address, _Handler)


class ManagementApi:
    """``http://host:port/{stage}``: the endpoint the app's push client is pointed at."""

    def __init__(self, gateway: WebSocketGateway, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), gateway)
        self._serving = BackgroundServer(self._server, "devstack-connections")
        self.host = host
        self.stage = gateway.stage

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/{self.stage}"

    def start(self) -> None:
        self._serving.start()

    def stop(self) -> None:
        self._serving.stop()
