"""The REST API: the Chalice app behind chalice.local's gateway, in a threaded HTTP server.

Chalice keeps ``app.current_request`` on the app object, which concurrent requests would trample;
``chalice local`` swaps the app's class for one that keeps it per thread, and so do we. Errors the
local gateway raises on its own (no token, denied token, unknown route) are rewritten as our
deployed API Gateway rewrites them (see ``gateway_responses``), with the CORS headers the template
gives them. The web pages (``static``) are served on the same port, as CloudFront serves them
beside the API in AWS.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    LocalChalice,
    LocalDevServer,
    LocalGatewayException,
    ThreadedHTTPServer,
)

from devstack import gateway_responses, static
from devstack.serving import BackgroundServer

log = logging.getLogger(__name__)


def make_thread_safe(app: Chalice) -> None:
    """What ``chalice.local.create_local_server`` does: per-thread ``current_request``. Idempotent,
    because the app object lives as long as the process and a test session may start two stacks."""
    if isinstance(app, LocalChalice):
        return
    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
    app.__class__ = CustomLocalChalice


def chalice_config(project_dir: Path, stage: str) -> Config:
    """Lambda timeout and memory from ``.chalice/config.json``, for the contexts Chalice builds."""
    path = project_dir / ".chalice" / "config.json"
    from_disk: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    return Config(chalice_stage=stage, function_name="api_handler", config_from_disk=from_disk)


class KefuRequestHandler(ChaliceRequestHandler):
    """chalice.local's handler with our gateway responses, logging instead of stderr noise."""

    urls: dict[str, str] = {}  # what static pages get for __KEFU_API_URL__ / __KEFU_WS_URL__

    def setup(self) -> None:
        super().setup()
        # API Gateway tells a function its caller's address (requestContext.identity.sourceIp);
        # chalice.local writes 127.0.0.1 for everyone, which would make every per-address limit
        # one shared limit. Each connection gets its own gateway, so this is per caller.
        self.local_gateway.event_converter.LOCAL_SOURCE_IP = self.client_address[0]

    def _send_error_response(self, error: LocalGatewayException) -> None:
        from chalicelib.api.cors import cors_headers

        headers = dict(error.headers)
        headers.update(cors_headers(self.headers.get("Origin")))
        custom = gateway_responses.match(error.CODE, headers, error.body)
        if custom is None:
            self._send_http_response(error.CODE, {**headers, **gateway_responses.HEADERS}, error.body)
            return
        headers.update(gateway_responses.HEADERS)
        headers["Content-Type"] = "application/json"
        self._send_http_response(custom.status, headers, custom.body())

    def _generic_handle(self) -> None:
        """A ``Content-Length`` that is not a number of bytes is refused with 400 before the app
        runs, as API Gateway's front end refuses it (chalice.local drops the connection)."""
        length = self.headers.get("Content-Length")
        if length is not None and not (length.strip().isascii() and length.strip().isdecimal()):
            self.close_connection = True  # where the body ends is unknown
            body = json.dumps({"error": "bad_request", "message": "Content-Length is not a number of bytes"})
            self._send_http_response(400, {**gateway_responses.HEADERS, "Content-Type": "application/json"},
                                     body.encode())
            return
        super()._generic_handle()

    def do_GET(self) -> None:
        if not static.is_static_path(self.path):
            self._generic_handle()
            return
        found = static.resolve(self.path, self.urls)
        headers = static.page_headers(self.urls)
        if isinstance(found, str):
            self._send_http_response(301, {**headers, "Location": found}, b"")
        elif found is None:
            self._send_http_response(404, {**headers, "Content-Type": "text/plain"}, b"not found")
        else:
            self._send_http_response(200, {**headers, "Content-Type": found.content_type,
                                           "Cache-Control": "no-cache"}, found.body)

    # chalice.local binds every method to its own ``_generic_handle``: to this one instead.
    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _generic_handle

    def log_message(self, format: str, *args: Any) -> None:
        log.info("rest %s", format % args)


class _Server(ThreadedHTTPServer):
    # socketserver's default backlog of 5 resets callers that arrive together (30 racing logins)
    # while the accept loop is busy; API Gateway takes them all.
    request_queue_size = 128


class RestServer:
    """The app on ``http://host:port``, one thread per request."""

    def __init__(self, app: Chalice, config: Config, host: str, port: int, ws_url: str = "") -> None:
        make_thread_safe(app)
        # socketserver makes a handler per request from a class: one class per server carries its URLs.
        handler = type("StackRequestHandler", (KefuRequestHandler,), {"urls": {}})
        self._server = LocalDevServer(app, config, host, port, handler_cls=handler, server_cls=_Server)
        handler.urls.update(KEFU_API_URL=f"http://{host}:{self.port}", KEFU_WS_URL=ws_url)
        self._serving = BackgroundServer(self._server.server, "devstack-rest")

    @property
    def port(self) -> int:
        return int(self._server.server.server_address[1])

    def start(self) -> None:
        self._serving.start()

    def stop(self) -> None:
        self._serving.stop()
