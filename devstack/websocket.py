"""A local API Gateway WebSocket API: real sockets, the app's handlers invoked as Lambda would be.

What it reproduces, because the app is built around it (see /work/shared/AWS_FACTS.md):
- ``$connect`` runs during the handshake; a non-2xx answer (or an exception: 500) rejects it, and
  until it succeeds the connection cannot be posted to (410).
- every text frame becomes a ``$default`` event (the app defines no other route); frames of one
  connection are handled in order; binary frames close the socket (1003) and messages over
  128 KB close it with 1009;
- pings are answered at once, however many frames of the socket wait for their handler: each
  connection has a reader that never stops reading (websockets answers pings as it reads) and puts
  frames in a bounded backlog, and a worker that hands them to the app one at a time. A frame that
  finds the backlog full is refused with API Gateway's throttling answer (``Too Many Requests``)
  instead of being buffered without bound;
- idle (10 min) and maximum (2 h) connection times close with 1001;
- ``$disconnect`` fires after the socket closed, and can be made to get lost (``lose_disconnects``,
  ``lose_disconnect_ids``) because in AWS it is best-effort.
Events have the real ``requestContext`` shape, so the app parses local events as it parses AWS's.

The asyncio loop runs in its own thread; handlers run in a thread pool so a slow handler never
blocks the loop. The ``@connections`` API (``management.py``) calls ``post``/``describe``/
``delete`` from its own threads.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import concurrent.futures
import contextlib
import copy
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 128 * 1024
IDLE_TIMEOUT_SECONDS = 10 * 60
MAX_DURATION_SECONDS = 2 * 60 * 60
HANDLER_TIMEOUT_SECONDS = 30
# Per connection: frames received and not yet handed to the app. Far above what the app's own rate
# limit lets a client send, low enough that a flooding client cannot exhaust memory.
MAX_BACKLOG_FRAMES = 1000
MAX_BACKLOG_CHARS = 16 * 1024 * 1024
# Answers the gateway itself sends (throttling) are dropped while this much waits to be written to
# the client: a client that floods and never reads must not grow our send buffer either. Below
# websockets' low-water mark (a quarter of its 32 KiB write limit), so such a send never waits.
_SEND_BUFFER_LIMIT = 8 * 1024

# (route key, event) -> the handler's response dict, or None when the route has no handler.
Invoker = Callable[[str, dict[str, Any]], dict[str, Any] | None]
EventListener = Callable[[dict[str, Any]], None]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class GoneError(Exception):
    """The connection is unknown, not yet connected, or closed: ``@connections`` answers 410."""


def aws_id() -> str:
    """An id shaped like API Gateway's connection and request ids: 16 base64 characters ending in
    '=' (11 random bytes), without '+' or '/' so they read well in logs."""
    while True:
        candidate = base64.b64encode(secrets.token_bytes(11)).decode()
        if "+" not in candidate and "/" not in candidate:
            return candidate


def _epoch_ms() -> int:
    return int(time.time() * 1000)


def _request_time(epoch_ms: int) -> str:
    """``09/Feb/2024:18:11:43 +0000``, API Gateway's CLF-style requestTime (locale-independent)."""
    at = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return f"{at.day:02d}/{_MONTHS[at.month - 1]}/{at.year}:{at:%H:%M:%S} +0000"


def iso_ms(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


@dataclass
class LocalConnection:
    """One client socket, from handshake to close, as the gateway (not the app) sees it."""

    connection_id: str
    socket: ServerConnection
    source_ip: str
    user_agent: str | None
    host: str
    connected_at_ms: int = field(default_factory=_epoch_ms)
    last_active_at_ms: int = field(default_factory=_epoch_ms)
    connected_monotonic: float = field(default_factory=time.monotonic)
    last_active_monotonic: float = field(default_factory=time.monotonic)
    is_open: bool = False  # postable: $connect succeeded and the handshake completed
    was_opened: bool = False
    gateway_close: tuple[int, str] | None = None  # why the gateway itself closed it

    def touch(self) -> None:
        self.last_active_at_ms = _epoch_ms()
        self.last_active_monotonic = time.monotonic()


class Backlog:
    """The frames of one connection waiting for their handler, oldest first, bounded in number and
    in characters. Used from the gateway's event loop only."""

    def __init__(self, max_frames: int = MAX_BACKLOG_FRAMES, max_chars: int = MAX_BACKLOG_CHARS) -> None:
        self._frames: collections.deque[str] = collections.deque()
        self._chars = 0
        self._max_frames = max_frames
        self._max_chars = max_chars
        self._ready = asyncio.Event()
        self._closed = False

    def offer(self, body: str) -> bool:
        """Queue ``body``; False when the backlog is full (one frame always fits an empty one)."""
        if self._frames and (len(self._frames) >= self._max_frames
                             or self._chars + len(body) > self._max_chars):
            return False
        self._frames.append(body)
        self._chars += len(body)
        self._ready.set()
        return True

    def close(self) -> None:
        """No more frames will come; ``next`` returns what is queued, then None."""
        self._closed = True
        self._ready.set()

    async def next(self) -> str | None:
        while not self._frames:
            if self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        body = self._frames.popleft()
        self._chars -= len(body)
        return body


class WebSocketGateway:
    """The WebSocket side of the local stack. Test seams: ``lose_disconnects``,
    ``lose_disconnect_ids``, ``abort()``, and the event hook ``add_event_listener`` /
    ``capture_events()``."""

    def __init__(
        self,
        invoke: Invoker,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        stage: str = "api",
        api_id: str = "kefulocal0",
        idle_timeout: float = IDLE_TIMEOUT_SECONDS,
        max_duration: float = MAX_DURATION_SECONDS,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        max_backlog_frames: int = MAX_BACKLOG_FRAMES,
        workers: int = 32,
    ) -> None:
        self._invoke = invoke
        self.host = host
        self._requested_port = port
        self.stage = stage
        self.api_id = api_id
        self.idle_timeout = idle_timeout
        self.max_duration = max_duration
        self.max_message_bytes = max_message_bytes
        self.max_backlog_frames = max_backlog_frames
        self._workers = workers
        #: When True, no ``$disconnect`` reaches the app (AWS delivers it best-effort).
        self.lose_disconnects = False
        #: Connection ids whose ``$disconnect`` gets lost (per-connection variant of the above).
        self.lose_disconnect_ids: set[str] = set()
        self._listeners: list[EventListener] = []
        self._connections: dict[str, LocalConnection] = {}
        self._by_socket: dict[ServerConnection, LocalConnection] = {}
        self._lock = threading.Lock()
        self._busy = 0  # handlers running, and closed sockets whose $disconnect has yet to finish
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.port = 0

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/{self.stage}"

    def start(self) -> None:
        """Listen, and return once the port is bound."""
        self._pool = concurrent.futures.ThreadPoolExecutor(self._workers, thread_name_prefix="devstack-ws")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="devstack-ws-loop",
                                        daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)

    async def _listen(self) -> None:
        self._server = await serve(
            self._handle,
            self.host,
            self._requested_port,
            process_response=self._process_response,
            compression=None,  # API Gateway does not negotiate permessage-deflate
            max_size=self.max_message_bytes,
            ping_interval=None,  # API Gateway answers pings but never sends any
            # No flow control in websockets: it would stop reading the socket (and so answering
            # pings) while frames wait. Each connection's reader empties websockets' buffer into a
            # bounded Backlog at once instead, so API Gateway's "control frames are answered
            # whatever the Lambda backlog" holds and memory stays bounded.
            max_queue=None,
            open_timeout=HANDLER_TIMEOUT_SECONDS + 5,  # $connect runs inside the handshake
            server_header=None,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        """Close every socket with 1001 (firing ``$disconnect``), then stop the loop and pool."""
        if self._loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=60)
        except (TimeoutError, concurrent.futures.TimeoutError):
            log.warning("websocket gateway did not close in time")
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop.close()
        self._loop = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close(code=1001, reason="Going away")
            await self._server.wait_closed()
        if self._tasks:
            await asyncio.wait(list(self._tasks))

    # ---- event hook -----------------------------------------------------------------------

    def add_event_listener(self, listener: EventListener) -> None:
        """Call ``listener`` with a copy of every event before the app gets it (tests inspect them)."""
        self._listeners.append(listener)

    def remove_event_listener(self, listener: EventListener) -> None:
        self._listeners.remove(listener)

    @contextlib.contextmanager
    def capture_events(self) -> Iterator[list[dict[str, Any]]]:
        """Collect the events emitted while the block runs."""
        events: list[dict[str, Any]] = []
        self.add_event_listener(events.append)
        try:
            yield events
        finally:
            self.remove_event_listener(events.append)

    # ---- invoking the app ------------------------------------------------------------------

    @contextlib.contextmanager
    def _working(self) -> Iterator[None]:
        with self._lock:
            self._busy += 1
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1

    def _call(self, route_key: str, event: dict[str, Any]) -> dict[str, Any] | None:
        with self._working():
            for listener in list(self._listeners):
                try:
                    listener(copy.deepcopy(event))
                except Exception:
                    log.exception("event listener failed")
            return self._invoke(route_key, event)

    async def _run(self, route_key: str, event: dict[str, Any]) -> dict[str, Any] | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._call, route_key, event)

    def _context(self, conn: LocalConnection, route_key: str, event_type: str,
                 request_ms: int) -> dict[str, Any]:
        return {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": aws_id(),
            "requestTime": _request_time(request_ms),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": conn.connected_at_ms,
            "requestTimeEpoch": request_ms,
            "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
            "requestId": aws_id(),
            "domainName": conn.host,
            "connectionId": conn.connection_id,
            "apiId": self.api_id,
        }

    def _connect_event(self, conn: LocalConnection, request: Request) -> dict[str, Any]:
        multi_headers: dict[str, list[str]] = {}
        for name, value in request.headers.raw_items():
            if name.lower() in ("connection", "upgrade"):
                continue
            multi_headers.setdefault(name, []).append(value)
        port = str(self.port)
        for name, value in (("X-Forwarded-For", conn.source_ip), ("X-Forwarded-Port", port),
                            ("X-Forwarded-Proto", "http"),
                            ("X-Amzn-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}")):
            multi_headers.setdefault(name, [value])
        event: dict[str, Any] = {
            "headers": {name: values[-1] for name, values in multi_headers.items()},
            "multiValueHeaders": multi_headers,
        }
        query = parse_qs(urlsplit(request.path).query, keep_blank_values=True)
        if query:
            event["queryStringParameters"] = {k: v[-1] for k, v in query.items()}
            event["multiValueQueryStringParameters"] = query
        event["requestContext"] = self._context(conn, "$connect", "CONNECT", conn.connected_at_ms)
        event["isBase64Encoded"] = False
        return event

    def _message_event(self, conn: LocalConnection, body: str) -> dict[str, Any]:
        context = self._context(conn, "$default", "MESSAGE", _epoch_ms())
        context["messageId"] = aws_id()
        return {"requestContext": context, "body": body, "isBase64Encoded": False}

    def _disconnect_event(self, conn: LocalConnection, code: int, reason: str) -> dict[str, Any]:
        headers = {"Host": conn.host, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
        context = self._context(conn, "$disconnect", "DISCONNECT", _epoch_ms())
        context["disconnectStatusCode"] = code
        context["disconnectReason"] = reason
        return {
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "requestContext": context,
            "isBase64Encoded": False,
        }

    # ---- the handshake: $connect -----------------------------------------------------------

    async def _process_response(self, ws: ServerConnection, request: Request,
                                response: Response) -> Response | None:
        if response.status_code != HTTPStatus.SWITCHING_PROTOCOLS:
            return None  # not a valid upgrade: websockets' own error answer stands
        remote = ws.remote_address
        conn = LocalConnection(
            connection_id=aws_id(),
            socket=ws,
            source_ip=str(remote[0]) if remote else "127.0.0.1",
            user_agent=request.headers.get("User-Agent"),
            host=request.headers.get("Host") or f"{self.host}:{self.port}",
        )
        with self._lock:
            self._connections[conn.connection_id] = conn
            self._by_socket[ws] = conn
        try:
            result = await self._run("$connect", self._connect_event(conn, request))
        except Exception:
            log.exception("$connect failed", extra={"connection_id": conn.connection_id})
            self._forget(conn)
            return ws.respond(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error")
        status = int((result or {}).get("statusCode", 200))
        if not 200 <= status < 300:
            self._forget(conn)
            log.info("$connect rejected with %s", status)
            return self._rejection(ws, status, (result or {}).get("body"))
        self._apply_connect_headers(response, (result or {}).get("headers") or {})
        self._track(self._reap_if_never_opened(conn))
        return None

    @staticmethod
    def _rejection(ws: ServerConnection, status: int, body: Any) -> Response:
        try:
            http_status = HTTPStatus(status)
        except ValueError:
            http_status = HTTPStatus.FORBIDDEN
        if not body:
            return ws.respond(http_status, http_status.phrase)
        rejection = ws.respond(http_status, body if isinstance(body, str) else json.dumps(body))
        del rejection.headers["Content-Type"]  # Headers appends on assignment
        rejection.headers["Content-Type"] = "application/json"
        return rejection

    @staticmethod
    def _apply_connect_headers(response: Response, headers: dict[str, Any]) -> None:
        """A subprotocol chosen by ``$connect`` is how API Gateway completes the negotiation."""
        for name, value in headers.items():
            if name.lower() == "sec-websocket-protocol":
                if "Sec-WebSocket-Protocol" in response.headers:
                    del response.headers["Sec-WebSocket-Protocol"]  # Headers appends on assignment
                response.headers["Sec-WebSocket-Protocol"] = str(value)

    async def _reap_if_never_opened(self, conn: LocalConnection) -> None:
        """The client vanished between ``$connect`` and the end of the handshake: the app was told
        it connected, so it must hear that it left."""
        await conn.socket.wait_closed()
        if not conn.was_opened:
            with self._working():
                self._forget(conn)
                await self._disconnect(conn, 1006, "Connection closed during the handshake")

    def _track(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _forget(self, conn: LocalConnection) -> None:
        conn.is_open = False
        with self._lock:
            self._connections.pop(conn.connection_id, None)
            self._by_socket.pop(conn.socket, None)

    # ---- an open connection: $default, timeouts, $disconnect -------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        with self._lock:
            conn = self._by_socket.get(ws)
        if conn is None:
            return
        conn.was_opened = True
        conn.is_open = True
        log.info("connected %s", conn.connection_id)
        backlog = Backlog(self.max_backlog_frames)
        worker = asyncio.get_running_loop().create_task(self._work(conn, backlog))
        try:
            await self._receive(conn, backlog)
        finally:
            backlog.close()
            await worker  # frames that arrived before the close still reach the app, in order
            with self._working():  # counted before the id is forgotten, so is_idle never sees a gap
                self._forget(conn)
                code, reason = self._close_status(conn)
                await self._disconnect(conn, code, reason)

    async def _work(self, conn: LocalConnection, backlog: Backlog) -> None:
        """Hand the connection's frames to the app one at a time, in the order they came."""
        while (body := await backlog.next()) is not None:
            await self._dispatch(conn, body)

    async def _receive(self, conn: LocalConnection, backlog: Backlog) -> None:
        """Read frames as fast as they come, whatever the app is doing (this is what keeps pings
        answered), until the socket closes or times out."""
        ws = conn.socket
        while True:
            deadline = min(conn.last_active_monotonic + self.idle_timeout,
                           conn.connected_monotonic + self.max_duration)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                await self._close(conn, 1001, "Going away")
                return
            try:
                message = await asyncio.wait_for(ws.recv(), remaining)
            except TimeoutError:
                continue
            except ConnectionClosed:
                return
            conn.touch()
            if isinstance(message, bytes):
                await self._close(conn, 1003, "Binary frames are not supported")
                return
            if not backlog.offer(message):
                await self._refuse(conn)

    async def _refuse(self, conn: LocalConnection) -> None:
        """API Gateway's answer to a throttled frame; the frame never reaches the app."""
        log.warning("frame refused: the backlog of %s is full", conn.connection_id)
        if conn.socket.transport.get_write_buffer_size() >= _SEND_BUFFER_LIMIT:
            return  # the client is not reading: do not buffer answers for it either
        refusal = {"message": "Too Many Requests", "connectionId": conn.connection_id, "requestId": aws_id()}
        with contextlib.suppress(ConnectionClosed):
            await conn.socket.send(json.dumps(refusal))

    async def _dispatch(self, conn: LocalConnection, body: str) -> None:
        event = self._message_event(conn, body)
        try:
            await self._run("$default", event)
        except Exception:
            log.exception("$default failed", extra={"connection_id": conn.connection_id})
            # What API Gateway sends the client when the integration fails.
            error = {"message": "Internal server error", "connectionId": conn.connection_id,
                     "requestId": event["requestContext"]["requestId"]}
            with contextlib.suppress(ConnectionClosed):
                await conn.socket.send(json.dumps(error))

    async def _close(self, conn: LocalConnection, code: int, reason: str) -> None:
        conn.gateway_close = (code, reason)
        conn.is_open = False
        await conn.socket.close(code, reason)

    @staticmethod
    def _close_status(conn: LocalConnection) -> tuple[int, str]:
        """``disconnectStatusCode`` / ``disconnectReason``: who closed, with which code."""
        if conn.gateway_close is not None:
            return conn.gateway_close
        protocol = conn.socket.protocol
        if protocol.close_sent is not None and not protocol.close_rcvd_then_sent:
            return protocol.close_sent.code, protocol.close_sent.reason or "Going away"
        if protocol.close_rcvd is not None:
            code, reason = protocol.close_rcvd.code, protocol.close_rcvd.reason
            return code, f"Client-side close frame status code '{code}' and reason '{reason}'"
        return 1006, "Connection closed abnormally"

    async def _disconnect(self, conn: LocalConnection, code: int, reason: str) -> None:
        if self.lose_disconnects or conn.connection_id in self.lose_disconnect_ids:
            log.info("lost $disconnect of %s (test seam)", conn.connection_id)
            return
        try:
            await self._run("$disconnect", self._disconnect_event(conn, code, reason))
        except Exception:
            log.exception("$disconnect failed", extra={"connection_id": conn.connection_id})

    # ---- what @connections does (called from other threads) --------------------------------

    def _open_connection(self, connection_id: str) -> LocalConnection:
        with self._lock:
            conn = self._connections.get(connection_id)
        # A client's close frame may be in while a handler still runs (the receive loop has not
        # seen it yet): API Gateway calls that connection gone at once, and so does this.
        if conn is None or not conn.is_open or conn.socket.state is not State.OPEN:
            raise GoneError(connection_id)
        return conn

    def _on_loop(self, coroutine: Any, timeout: float = 10) -> Any:
        if self._loop is None:
            raise GoneError("gateway stopped")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=timeout)

    def connection_ids(self) -> list[str]:
        """The ids that can be posted to right now."""
        with self._lock:
            return [cid for cid, conn in self._connections.items() if conn.is_open]

    def is_idle(self) -> bool:
        """No socket is open or opening, no handler runs and no ``$disconnect`` is still to come:
        nothing this gateway started can touch the tables any more (tests reset them then)."""
        with self._lock:
            return not self._connections and self._busy == 0

    def post(self, connection_id: str, data: bytes) -> None:
        """Send ``data`` as one frame (text when it is UTF-8, as the app's JSON always is)."""
        conn = self._open_connection(connection_id)
        try:
            message: str | bytes = data.decode("utf-8")
        except UnicodeDecodeError:
            message = data
        try:
            self._on_loop(conn.socket.send(message))
        except ConnectionClosed as e:
            raise GoneError(connection_id) from e

    def describe(self, connection_id: str) -> dict[str, Any]:
        """``GET @connections/{id}``: camelCase, ISO 8601 times."""
        conn = self._open_connection(connection_id)
        return {
            "connectedAt": iso_ms(conn.connected_at_ms),
            "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent or ""},
            "lastActiveAt": iso_ms(conn.last_active_at_ms),
        }

    def delete(self, connection_id: str) -> None:
        """``DELETE @connections/{id}``: close the socket; ``$disconnect`` follows."""
        conn = self._open_connection(connection_id)
        self._on_loop(self._close(conn, 1000, "Connection deleted"), timeout=15)

    def abort(self, connection_id: str) -> None:
        """Test seam: drop the TCP connection without a close frame, as a dying network would."""
        with self._lock:
            conn = self._connections.get(connection_id)
        if conn is None or self._loop is None:
            raise GoneError(connection_id)
        self._loop.call_soon_threadsafe(conn.socket.transport.abort)
