"""The stack's DynamoDB requests go unsigned only to kefu's own backend (devstack/unsigned.py):
DynamoDB Local and any other endpoint still get SigV4-signed requests."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest
from pynamodb.connection import Connection

from devstack.unsigned import send_unsigned_to


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers an empty GetItem; ``GET /_kefu/sim`` only when it plays kefu's backend."""

    plays_kefu = False
    authorizations: list[str | None] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        status = 200 if self.plays_kefu and self.path == "/_kefu/sim" else 404
        self._answer(status, b"{}")

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.authorizations.append(self.headers.get("Authorization"))
        self._answer(200, json.dumps({}).encode())

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _endpoint(plays_kefu: bool) -> Iterator[tuple[str, list[str | None]]]:
    handler = type("Handler", (_Recorder,), {"plays_kefu": plays_kefu, "authorizations": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", handler.authorizations
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def kefu_backend() -> Iterator[tuple[str, list[str | None]]]:
    yield from _endpoint(plays_kefu=True)


@pytest.fixture
def other_backend() -> Iterator[tuple[str, list[str | None]]]:
    yield from _endpoint(plays_kefu=False)


def _get_item(endpoint: str) -> None:
    """A GetItem through the botocore client PynamoDB makes for ``endpoint``."""
    Connection(region="us-east-1", host=endpoint).client.get_item(TableName="t", Key={"k": {"S": "k"}})


def test_requests_to_kefus_own_backend_carry_no_signature(kefu_backend, other_backend) -> None:
    endpoint, authorizations = kefu_backend
    other, other_authorizations = other_backend

    assert send_unsigned_to(endpoint)
    _get_item(endpoint)
    _get_item(other)

    assert authorizations == [None]
    assert other_authorizations[0] is not None and other_authorizations[0].startswith("AWS4-HMAC-SHA256")


def test_another_endpoint_keeps_signed_requests_when_the_stack_starts_on_it(other_backend) -> None:
    endpoint, authorizations = other_backend

    assert not send_unsigned_to(endpoint)
    _get_item(endpoint)

    assert authorizations[0] is not None and authorizations[0].startswith("AWS4-HMAC-SHA256")


def test_signing_can_be_kept_for_kefus_backend(kefu_backend, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint, authorizations = kefu_backend
    monkeypatch.setenv("KEFU_SIGN_LOCAL_REQUESTS", "1")

    assert not send_unsigned_to(endpoint)
    _get_item(endpoint)

    assert authorizations[0] is not None and authorizations[0].startswith("AWS4-HMAC-SHA256")
