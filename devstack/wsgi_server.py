"""A WSGI server that keeps connections open, for the embedded DynamoDB.

werkzeug's development server (moto's) answers every request with ``Connection: close``, then
waits up to 10 ms for the client to hang up: each DynamoDB call of the app paid a TCP handshake, a
new server thread and that wait, and botocore a new connection (its pool never reused one). Here a
connection serves request after request (HTTP/1.1 with ``Content-Length``), one thread per open
connection, as DynamoDB's endpoint keeps botocore's connections alive.

The environ is what moto's app reads: werkzeug's keys, including ``werkzeug.socket`` (the
simulator resets a connection through it to lose an answer) and header names kept as sent.
"""

from __future__ import annotations

import contextlib
import io
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from moto.core.request import (
    PRESERVED_HEADER_NAMES_ENVIRON_KEY,
    environ_key_for_header,
    should_preserve_original_header_name,
)

WSGIApp = Any


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Responses go out in two writes (head, body): without TCP_NODELAY each waits for a delayed ACK.
    disable_nagle_algorithm = True
    server: KeepAliveWSGIServer

    def setup(self) -> None:
        super().setup()
        self.server.opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.closed(self.connection)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except ConnectionError:
            self.close_connection = True  # the client went away, or the simulator reset it

    def _serve(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.send_error(411, "a request body needs a Content-Length")  # no client of ours sends one
            self.close_connection = True
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        environ = self._environ(body)
        answer: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer[:] = [status, headers]
            return lambda data: None

        chunks = self.server.app(environ, start_response)
        try:
            payload = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        if self.connection.fileno() < 0:
            self.close_connection = True
            return
        status, headers = answer
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        length = str(len(payload))
        for name, value in headers:
            if name.lower() == "content-length" and self.command == "HEAD":
                length = value  # the size of what a GET would answer (S3's HeadObject: the object's)
            elif name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _serve

    def _environ(self, body: bytes) -> dict[str, Any]:
        url = urlsplit(self.path)
        host, port = self.server.server_address[:2]
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(url.path, "latin-1"),
            "QUERY_STRING": url.query,
            "RAW_URI": self.path,
            "REQUEST_URI": self.path,
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": self.client_address[1],
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "werkzeug.socket": self.connection,
        }
        names: dict[str, str] = {}
        for name, value in self.headers.items():
            preserved = should_preserve_original_header_name(name)
            if "_" in name and not preserved:
                continue  # as werkzeug: an underscored name must not pass for a dashed one
            key = environ_key_for_header(name)
            if key == "CONTENT_LENGTH":
                continue
            value = value.replace("\r\n", "")
            environ[key] = f"{environ[key]},{value}" if key.startswith("HTTP_") and key in environ else value
            if preserved:
                names.setdefault(key, name)
        environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = names
        return environ

    def log_message(self, format: str, *args: Any) -> None:
        """No access log line per request: formatting and writing it cost more than a GetItem."""


class KeepAliveWSGIServer(ThreadingHTTPServer):
    """``app`` on ``(host, port)``; ``serve_forever`` / ``shutdown`` / ``server_close`` as usual."""

    daemon_threads = True
    request_queue_size = 128  # a burst of new connections waits instead of being refused

    def __init__(self, host: str, port: int, app: WSGIApp) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((host, port), _Handler)

    def opened(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def closed(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def server_close(self) -> None:
        """Stop listening, and hang up every open connection: once stopped, no request that
        arrives on a kept-alive connection reaches the app."""
        super().server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
