"""Faults moto cannot produce, injected at the AWS boundary through botocore's own event hooks
on the clients PynamoDB uses (no PynamoDB or botocore internals patched).

Every fault acts on one HTTP attempt (``before-send``), below any retry handler, where AWS itself
refuses a request or loses its answer: a retry, whoever makes it, is a new attempt that meets
what the first one left behind.

``refuse``: the request never reaches DynamoDB and answers an error (``TransactionConflict``,
throttling...). ``cancel``: a transaction is cancelled with one reason for every action (AWS's
answer to a throttled transaction: ``ThrottlingError``). ``lose_response``: the request is
applied, then the answer is lost (a reset connection, or a 500), so a retry meets its own success.
``before``: another writer acts just before the request goes out. ``unprocessed``: a batch read
hands every key back unprocessed. ``index_behind``: an index read does not show writes yet.
``sent``: the bodies of the attempts that went out (to read their ``ClientRequestToken``).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError
from botocore.httpsession import URLLib3Session

from chalicelib.models import ALL_MODELS
from chalicelib.models.base import transaction_connection


def _clients() -> list[Any]:
    clients = {id(c): c for c in [m._get_connection().connection.client for m in ALL_MODELS]}
    tx_client = transaction_connection().client
    clients[id(tx_client)] = tx_client
    return list(clients.values())


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _error_response(code: str, status: int) -> AWSResponse:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected"}).encode()
    return AWSResponse("https://dynamodb.injected", status, {"x-amzn-ErrorType": code}, _Raw(body))


class Faults:
    """Counts of what was injected, per operation."""

    def __init__(self) -> None:
        self.injected: dict[str, int] = {}
        self._lock = threading.Lock()

    def _take(self, key: str, budget: dict[str, int]) -> bool:
        with self._lock:
            if budget.get(key, 0) <= 0:
                return False
            budget[key] -= 1
            self.injected[key] = self.injected.get(key, 0) + 1
            return True


@contextlib.contextmanager
def refuse(operation: str, code: str = "TransactionConflictException", times: int = 1, status: int = 400,
           when: Callable[[dict[str, Any]], bool] | None = None) -> Iterator[Faults]:
    """The next ``times`` calls of ``operation`` (matching ``when(params)``) answer ``code``."""
    faults = Faults()
    budget = {operation: times}

    def handler(request: Any, **_: Any) -> AWSResponse | None:
        if when is not None and not when(json.loads(request.body or b"{}")):
            return None
        if faults._take(operation, budget):
            return _error_response(code, status)
        return None

    with _registered(f"before-send.dynamodb.{operation}", handler, faults):
        yield faults


@contextlib.contextmanager
def cancel(reason: str = "ThrottlingError", times: int = 1,
           when: Callable[[dict[str, Any]], bool] | None = None) -> Iterator[Faults]:
    """The next ``times`` ``TransactWriteItems`` attempts are cancelled before applying, with
    ``reason`` for every action: how DynamoDB answers a throttled transaction (``ThrottlingError``,
    ``ProvisionedThroughputExceeded``) or one that met another (``TransactionConflict``)."""
    faults = Faults()
    budget = {"TransactWriteItems": times}

    def handler(request: Any, **_: Any) -> AWSResponse | None:
        body = json.loads(request.body or b"{}")
        if when is not None and not when(body):
            return None
        if not faults._take("TransactWriteItems", budget):
            return None
        reasons = [{"Code": reason, "Message": "injected"} for _ in body.get("TransactItems") or []]
        answer = {"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                  "Message": f"Transaction cancelled [{', '.join(r['Code'] for r in reasons)}]",
                  "CancellationReasons": reasons}
        return AWSResponse("https://dynamodb.injected", 400, {"x-amzn-ErrorType": "TransactionCanceledException"},
                           _Raw(json.dumps(answer).encode()))

    with _registered("before-send.dynamodb.TransactWriteItems", handler, faults):
        yield faults


@contextlib.contextmanager
def sent(operation: str) -> Iterator[list[dict[str, Any]]]:
    """The body of every attempt of ``operation`` that goes out inside the block, in order."""
    bodies: list[dict[str, Any]] = []
    lock = threading.Lock()

    def record(request: Any, **_: Any) -> None:
        with lock:
            bodies.append(json.loads(request.body or b"{}"))

    with _registered(f"before-send.dynamodb.{operation}", record, Faults()):
        yield bodies


@contextlib.contextmanager
def unprocessed(times: int = 1) -> Iterator[Faults]:
    """The next ``times`` ``BatchGetItem`` calls read nothing: DynamoDB's answer under throttling,
    every key handed back as unprocessed, no table under ``Responses``."""
    faults = Faults()
    budget = {"BatchGetItem": times}

    def handler(request: Any, **_: Any) -> AWSResponse | None:
        if not faults._take("BatchGetItem", budget):
            return None
        asked = json.loads(request.body or b"{}").get("RequestItems") or {}
        answer = {"Responses": {}, "UnprocessedKeys": asked}
        return AWSResponse("https://dynamodb.injected", 200, {}, _Raw(json.dumps(answer).encode()))

    with _registered("before-send.dynamodb.BatchGetItem", handler, faults):
        yield faults


@contextlib.contextmanager
def index_behind(index: str, times: int = 1) -> Iterator[Faults]:
    """The next ``times`` ``Query`` calls on the index named ``index`` find nothing: a global
    secondary index is eventually consistent, with no bound on its lag, so a read right after a
    write may not show it (a page of no items is DynamoDB's own answer then)."""
    faults = Faults()
    budget = {"Query": times}

    def handler(request: Any, **_: Any) -> AWSResponse | None:
        if json.loads(request.body or b"{}").get("IndexName") != index:
            return None
        if not faults._take("Query", budget):
            return None
        answer = {"Items": [], "Count": 0, "ScannedCount": 0}
        return AWSResponse("https://dynamodb.injected", 200, {}, _Raw(json.dumps(answer).encode()))

    with _registered("before-send.dynamodb.Query", handler, faults):
        yield faults


@contextlib.contextmanager
def lose_response(operation: str, times: int = 1, when: Callable[[dict[str, Any]], bool] | None = None,
                  answer: str = "reset", clients: list[Any] | None = None) -> Iterator[Faults]:
    """The next ``times`` attempts of ``operation`` are sent and applied, then their answer is lost:
    the connection is reset (``answer="reset"``) or DynamoDB answers ``500 InternalServerError``
    (``answer="500"``). Per attempt, as on AWS: a retry is a new attempt that meets its own write.
    ``clients``: other botocore clients than kefu's models' (a library's own) to inject into."""
    if answer not in ("reset", "500"):
        raise ValueError("answer is 'reset' or '500'")
    faults = Faults()
    budget = {operation: times}
    http = URLLib3Session()

    def handler(request: Any, **_: Any) -> AWSResponse | None:
        if when is not None and not when(json.loads(request.body or b"{}")):
            return None
        if not faults._take(operation, budget):
            return None
        http.send(request)  # applied by DynamoDB; what it answered never reaches the caller
        if answer == "500":
            return _error_response("InternalServerError", 500)
        raise ConnectionClosedError(endpoint_url=request.url)

    try:
        with _registered(f"before-send.dynamodb.{operation}", handler, faults, clients):
            yield faults
    finally:
        http.close()


@contextlib.contextmanager
def before(operation: str, action: Callable[[], Any], times: int = 1,
           when: Callable[[dict[str, Any]], bool] | None = None) -> Iterator[Faults]:
    """Just before the next ``times`` attempts of ``operation`` go out, ``action()`` runs: another
    writer wins the race between what the caller read and what it writes."""
    faults = Faults()
    budget = {operation: times}

    def handler(request: Any, **_: Any) -> None:
        if when is not None and not when(json.loads(request.body or b"{}")):
            return
        if faults._take(operation, budget):
            action()

    with _registered(f"before-send.dynamodb.{operation}", handler, faults):
        yield faults


@contextlib.contextmanager
def _registered(event: str, handler: Callable[..., Any], faults: Faults,
                clients: list[Any] | None = None) -> Iterator[None]:
    clients = clients if clients is not None else _clients()
    for client in clients:
        client.meta.events.register_first(event, handler)
    try:
        yield
    finally:
        for client in clients:
            client.meta.events.unregister(event, handler)


@contextlib.contextmanager
def counted() -> Iterator[dict[str, int]]:
    """DynamoDB calls made inside the block, per operation (from botocore's own events)."""
    calls: dict[str, int] = {}
    lock = threading.Lock()

    def count(model: Any, **_: Any) -> None:
        with lock:
            calls[model.name] = calls.get(model.name, 0) + 1

    with _registered("before-call.dynamodb", count, Faults()):
        yield calls
