"""DynamoDB as unkind as AWS: index lag, transaction conflicts, throttling and lost responses.

moto answers every request from the present, never conflicts, never throttles and never loses a
response. ``SimulatedDynamoDB`` is a WSGI layer in front of moto's app (inside the backend's global
lock, so each request still applies atomically) that adds what DynamoDB documents:

- index lag: every applied write is logged with the item's image before it. A Query or Scan on a
  global secondary index picks a random delay ``d`` in 0..``gsi_lag_ms`` and is answered from the
  table as it stood ``d`` ms ago: the writes of the last ``d`` ms are undone in moto, the read runs,
  the present is put back. New items are missing, deleted items still there, old values visible.
- eventually consistent base-table reads (GetItem, Query, Scan, BatchGetItem without
  ``ConsistentRead``): DynamoDB acknowledges a write once two of an item's three replicas have it and
  such a read goes to any replica, so a fraction ``stale_read`` (aws: 1/3) of them is answered from
  the past in the same way, within the same lag. ``ConsistentRead`` and transactions see the present.
- transaction conflicts: an item written (or condition-checked) by a TransactWriteItems is "in a
  transaction" for ``tx_window_ms`` (50). A plain PutItem / UpdateItem / DeleteItem / BatchWriteItem
  on it fails with ``TransactionConflictException`` at rate ``tx_conflict``; a TransactWriteItems or
  TransactGetItems meeting it is cancelled with reason ``TransactionConflict`` at the same rate.
- throttling: a fraction ``throttle`` of data-plane calls is refused before applying with 400
  ``ProvisionedThroughputExceededException`` (batches answer everything as unprocessed instead).
- lost responses: a fraction ``lost_response`` of applied writes is answered with a 500
  ``InternalServerError`` or a closed connection, so a retry meets its own success.
- idempotency tokens (in every mode, since DynamoDB always honours them and moto ignores them): a
  TransactWriteItems that committed with a ``ClientRequestToken`` is remembered for 10 minutes; an
  identical request with that token is answered with success without applying again, a different
  one with ``IdempotentParameterMismatchException``. A cancelled or refused one is not remembered,
  so its retry runs again.

All randomness comes from one ``random.Random(seed)``: the same seed and the same sequence of
requests give the same faults. The knobs come from ``KEFU_SIM*`` (docs/local-stack.md) and can be
changed at runtime with ``POST /_kefu/sim`` (JSON knobs; ``GET`` shows the current ones).
"""

from __future__ import annotations

import copy
import io
import json
import os
import random
import re
import socket
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

CONTROL_PATH = "/_kefu/sim"
MODES = ("aws", "off")
AWS_DEFAULTS = {"gsi_lag_ms": 250.0, "stale_read": 1 / 3, "tx_conflict": 0.2, "tx_window_ms": 50.0,
                "throttle": 0.0, "lost_response": 0.0}

_TARGET = "DynamoDB_20120810."
_PLAIN_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
_WRITES = _PLAIN_WRITES | {"BatchWriteItem", "TransactWriteItems"}
_READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
_ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
_REGION = re.compile(r"Credential=[^/]+/[^/]+/([^/]+)/")
TOKEN_SECONDS = 600.0


@dataclass(frozen=True)
class SimConfig:
    mode: str = "off"
    gsi_lag_ms: float = 0.0
    stale_read: float = 0.0
    tx_conflict: float = 0.0
    tx_window_ms: float = 50.0
    throttle: float = 0.0
    lost_response: float = 0.0
    seed: int = 0

    @classmethod
    def build(cls, mode: str = "off", seed: int | None = None, **knobs: Any) -> SimConfig:
        """``mode`` "aws" starts from AWS_DEFAULTS, "off" from all zero; knobs override either."""
        if mode not in MODES:
            raise ValueError(f"sim mode must be one of {MODES}, not {mode!r}")
        unknown = set(knobs) - set(AWS_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown sim knobs: {sorted(unknown)}")
        base = dict(AWS_DEFAULTS) if mode == "aws" else {k: 0.0 for k in AWS_DEFAULTS} | {"tx_window_ms": 50.0}
        base.update({k: float(v) for k, v in knobs.items() if v is not None})
        for rate in ("stale_read", "tx_conflict", "throttle", "lost_response"):
            if not 0.0 <= base[rate] <= 1.0:
                raise ValueError(f"{rate} must be between 0 and 1")
        return cls(mode=mode, seed=random.randrange(2**31) if seed is None else int(seed), **base)

    @classmethod
    def from_environment(cls, default_mode: str = "off") -> SimConfig:
        """``KEFU_SIM`` (aws|off), ``KEFU_SIM_GSI_LAG_MS``, ``KEFU_SIM_TX_CONFLICT``,
        ``KEFU_SIM_THROTTLE``, ``KEFU_SIM_LOST_RESPONSE``, ``KEFU_SIM_SEED``."""
        env = os.environ
        knobs = {key: env.get(f"KEFU_SIM_{key.upper()}") or None for key in AWS_DEFAULTS}
        seed = env.get("KEFU_SIM_SEED") or None
        return cls.build((env.get("KEFU_SIM") or default_mode).strip().lower(),
                         seed=None if seed is None else int(seed), **knobs)

    def describe(self) -> str:
        if self.mode == "off":
            return f"off (plain moto, seed {self.seed})"
        return (f"aws (gsi lag {self.gsi_lag_ms:g} ms, stale reads {self.stale_read:.2g}, "
                f"tx conflict {self.tx_conflict:g} within "
                f"{self.tx_window_ms:g} ms, throttle {self.throttle:g}, lost response "
                f"{self.lost_response:g}, seed {self.seed})")


@dataclass
class _Write:
    at: float
    table: str
    key: str                      # canonical JSON of the key attributes
    before: dict[str, Any] | None  # the item's attributes before the write; None: it did not exist


class _Backend:
    """Direct access to moto's in-memory tables (we run inside the server's global lock)."""

    def __init__(self, environ: dict[str, Any]) -> None:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        match = _REGION.search(environ.get("HTTP_AUTHORIZATION", ""))
        self.backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][match.group(1) if match else "us-east-1"]

    def table(self, name: str) -> Any:
        return self.backend.tables.get(name)

    def key_of(self, table_name: str, attrs: dict[str, Any]) -> str | None:
        table = self.table(table_name)
        if table is None or table.hash_key_attr not in attrs:
            return None
        key = {table.hash_key_attr: attrs[table.hash_key_attr]}
        if table.range_key_attr:
            if table.range_key_attr not in attrs:
                return None
            key[table.range_key_attr] = attrs[table.range_key_attr]
        return json.dumps(key, sort_keys=True)

    def _keys(self, table: Any, key: str) -> tuple[Any, Any]:
        from moto.dynamodb.models.dynamo_type import DynamoType

        parsed = json.loads(key)
        range_value = parsed.get(table.range_key_attr) if table.range_key_attr else None
        return DynamoType(parsed[table.hash_key_attr]), None if range_value is None else DynamoType(range_value)

    def image(self, table_name: str, key: str) -> dict[str, Any] | None:
        table = self.table(table_name)
        if table is None:
            return None
        item = table.get_item(*self._keys(table, key))
        return None if item is None else copy.deepcopy(item.to_json()["Attributes"])

    def restore(self, table_name: str, key: str, attrs: dict[str, Any] | None) -> None:
        table = self.table(table_name)
        if table is None:
            return
        if attrs is None:
            table.delete_item(*self._keys(table, key))
        else:
            table.put_item(copy.deepcopy(attrs), overwrite=True)


def _touched(op: str, body: dict[str, Any], backend: _Backend) -> list[tuple[str, str]]:
    """(table, key) of every item a request reads or writes by key."""
    found: list[tuple[str, str]] = []

    def add(table: str | None, attrs: dict[str, Any] | None) -> None:
        key = backend.key_of(table, attrs) if table and isinstance(attrs, dict) else None
        if key is not None:
            found.append((table, key))

    if op in _PLAIN_WRITES:
        add(body.get("TableName"), body.get("Item") if op == "PutItem" else body.get("Key"))
    elif op == "BatchWriteItem":
        for table, requests in (body.get("RequestItems") or {}).items():
            for request in requests:
                if "PutRequest" in request:
                    add(table, request["PutRequest"].get("Item"))
                elif "DeleteRequest" in request:
                    add(table, request["DeleteRequest"].get("Key"))
    elif op in ("TransactWriteItems", "TransactGetItems"):
        for entry in body.get("TransactItems") or []:
            (_, spec), = entry.items()
            add(spec.get("TableName"), spec.get("Item") if "Item" in spec else spec.get("Key"))
    return found


def _transact_entry_keys(body: dict[str, Any], backend: _Backend) -> list[tuple[str, str] | None]:
    keys: list[tuple[str, str] | None] = []
    for entry in body.get("TransactItems") or []:
        (_, spec), = entry.items()
        table = spec.get("TableName")
        attrs = spec.get("Item") if "Item" in spec else spec.get("Key")
        key = backend.key_of(table, attrs) if table and isinstance(attrs, dict) else None
        keys.append(None if key is None else (table, key))
    return keys


def _lagged_tables(op: str, body: dict[str, Any]) -> tuple[set[str], bool]:
    """Tables whose read may be answered from the past, and whether it reads an index (always in
    the past) rather than a base table (in the past at the ``stale_read`` rate)."""
    if op in ("GetItem", "Query", "Scan"):
        table = body.get("TableName")
        indexed = bool(op in ("Query", "Scan") and body.get("IndexName"))
        return ({table} if table and (indexed or not body.get("ConsistentRead")) else set()), indexed
    if op == "BatchGetItem":
        return {name for name, spec in (body.get("RequestItems") or {}).items()
                if not spec.get("ConsistentRead")}, False
    return set(), False


def _fingerprint(body: dict[str, Any]) -> str:
    """A transaction's parameters apart from its token: what a retry must repeat exactly."""
    return json.dumps({k: v for k, v in body.items() if k != "ClientRequestToken"}, sort_keys=True)


def _json_response(start_response: Any, status: str, document: dict[str, Any]) -> list[bytes]:
    payload = json.dumps(document).encode()
    start_response(status, [("Content-Type", "application/x-amz-json-1.0"),
                            ("Content-Length", str(len(payload))),
                            ("x-amzn-RequestId", f"kefu-sim-{time.monotonic_ns()}")])
    return [payload]


def _error(start_response: Any, status: str, code: str, message: str, **extra: Any) -> list[bytes]:
    prefix = "com.amazon.coral.service#" if code == "InternalServerError" else _ERROR_PREFIX
    return _json_response(start_response, status, {"__type": prefix + code, "message": message, **extra})


class SimulatedDynamoDB:
    """WSGI app: moto's ``app`` with the faults of ``config``. Not thread-safe: run it under the
    server's lock (``moto_backend._Serialized``)."""

    def __init__(self, app: Any, config: SimConfig | None = None) -> None:
        self._app = app
        self._log: deque[_Write] = deque()
        self._in_transaction: dict[tuple[str, str], float] = {}
        # ClientRequestToken -> (the request without it, when it committed); oldest first. Kept
        # across ``configure``: DynamoDB's memory of a commit does not depend on the faults.
        self._tokens: dict[str, tuple[str, float]] = {}
        self.configure(config or SimConfig())

    def configure(self, config: SimConfig) -> SimConfig:
        self.config = config
        self._random = random.Random(config.seed)
        self._log.clear()
        self._in_transaction.clear()
        return config

    # -- WSGI ---------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").rstrip("/") == CONTROL_PATH:
            return self._control(environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith(_TARGET):
            return self._app(environ, start_response)
        op = target[len(_TARGET):]
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(raw)
        if op in ("DeleteTable", "CreateTable"):
            self._forget_table(json.loads(raw or b"{}").get("TableName"))
            return self._app(environ, start_response)
        if op not in _WRITES and op not in _READS:
            return self._app(environ, start_response)
        body = json.loads(raw or b"{}")
        config = self.config
        if config.throttle and self._random.random() < config.throttle:
            return self._throttled(op, body, start_response)
        backend = _Backend(environ)
        self._expire()
        if op == "TransactWriteItems" and body.get("ClientRequestToken"):
            repeated = self._repeated(body, start_response)
            if repeated is not None:
                return repeated
        if op in _WRITES or op == "TransactGetItems":
            refused = self._conflict(op, body, backend, start_response)
            if refused is not None:
                return refused
        if op in _WRITES:
            return self._write(op, body, backend, environ, start_response)
        return self._read(op, body, backend, environ, start_response)

    def _control(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ.get("REQUEST_METHOD") == "POST":
            try:
                knobs = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)) or b"{}")
                self.configure(SimConfig.build(**knobs))
            except (TypeError, ValueError) as e:
                return _json_response(start_response, "400 Bad Request", {"error": str(e)})
        return _json_response(start_response, "200 OK", asdict(self.config))

    # -- faults -------------------------------------------------------------------------------
    def _throttled(self, op: str, body: dict[str, Any], start_response: Any) -> list[bytes]:
        if op == "BatchWriteItem":
            return _json_response(start_response, "200 OK", {"UnprocessedItems": body.get("RequestItems") or {}})
        if op == "BatchGetItem":
            return _json_response(start_response, "200 OK",
                                  {"Responses": {}, "UnprocessedKeys": body.get("RequestItems") or {}})
        return _error(start_response, "400 Bad Request", "ProvisionedThroughputExceededException",
                      "The level of configured provisioned throughput for the table was exceeded. "
                      "Consider increasing your provisioning level with the UpdateTable API.")

    def _conflict(self, op: str, body: dict[str, Any], backend: _Backend, start_response: Any) -> Any:
        config = self.config
        if not config.tx_conflict or not self._in_transaction:
            return None
        if op.startswith("Transact"):
            entries = _transact_entry_keys(body, backend)
            busy = [entry is not None and entry in self._in_transaction for entry in entries]
            if not any(busy) or self._random.random() >= config.tx_conflict:
                return None
            reasons = [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
                       if hit else {"Code": "None"} for hit in busy]
            codes = ", ".join(reason["Code"] for reason in reasons)
            return _json_response(start_response, "400 Bad Request", {
                "__type": _ERROR_PREFIX + "TransactionCanceledException",
                "Message": f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
                "CancellationReasons": reasons,
            })
        if not any(key in self._in_transaction for key in _touched(op, body, backend)):
            return None
        if self._random.random() >= config.tx_conflict:
            return None
        return _error(start_response, "400 Bad Request", "TransactionConflictException",
                      "Transaction is ongoing for the item")

    def _repeated(self, body: dict[str, Any], start_response: Any) -> Any:
        """The answer to a transaction whose token already committed, or None to run it."""
        token = body["ClientRequestToken"]
        remembered = self._tokens.get(token)
        if remembered is None:
            return None
        if remembered[0] != _fingerprint(body):
            return _error(start_response, "400 Bad Request", "IdempotentParameterMismatchException",
                          "The request uses the same client token as a previous, but non-identical request.")
        return _json_response(start_response, "200 OK", {})

    def _write(self, op: str, body: dict[str, Any], backend: _Backend, environ: dict[str, Any],
               start_response: Any) -> Any:
        config = self.config
        keys = _touched(op, body, backend)
        logging_writes = config.gsi_lag_ms > 0
        before = {key: backend.image(*key) for key in keys} if logging_writes else {}
        answer: list[Any] = []

        def capture(code: str, headers: Any, exc_info: Any = None) -> Any:
            answer[:] = [code, headers]
            return lambda data: None

        lost = reset = False
        # Drawn before applying so the random sequence does not depend on the outcome.
        if config.lost_response:
            lost = self._random.random() < config.lost_response
            reset = self._random.random() < 0.5
        payload = b"".join(self._app(environ, capture))
        ok = bool(answer) and answer[0].startswith("2")
        if ok:
            now = time.monotonic()
            if logging_writes:
                for key in keys:
                    self._log.append(_Write(now, key[0], key[1], before[key]))
            if op == "TransactWriteItems" and config.tx_conflict:
                for key in keys:
                    self._in_transaction[key] = now
            if op == "TransactWriteItems" and body.get("ClientRequestToken"):
                self._tokens[body["ClientRequestToken"]] = (_fingerprint(body), now)
        if not (lost and ok):
            start_response(answer[0], answer[1])
            return [payload]
        if reset:
            connection = environ.get("werkzeug.socket")
            if connection is not None:
                try:
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                start_response("500 Internal Server Error", [("Content-Length", "0")])
                return [b""]
        return _error(start_response, "500 Internal Server Error", "InternalServerError",
                      "Internal server error")

    def _read(self, op: str, body: dict[str, Any], backend: _Backend, environ: dict[str, Any],
              start_response: Any) -> Any:
        tables, indexed = _lagged_tables(op, body)
        lag = self.config.gsi_lag_ms
        if not tables or not lag:
            return self._app(environ, start_response)
        if not indexed and self._random.random() >= self.config.stale_read:
            return self._app(environ, start_response)
        delay = self._random.uniform(0.0, lag) / 1000.0
        since = time.monotonic() - delay
        undo = [write for write in self._log if write.at > since and write.table in tables]
        if not undo:
            return self._app(environ, start_response)
        present = {(w.table, w.key): backend.image(w.table, w.key) for w in undo}
        for write in reversed(undo):
            backend.restore(write.table, write.key, write.before)
        try:
            return [b"".join(self._app(environ, start_response))]
        finally:
            for (table, key), attrs in present.items():
                backend.restore(table, key, attrs)

    # -- bookkeeping --------------------------------------------------------------------------
    def _expire(self) -> None:
        now = time.monotonic()
        horizon = now - self.config.gsi_lag_ms / 1000.0
        while self._log and self._log[0].at <= horizon:
            self._log.popleft()
        while self._tokens:
            token, (_, at) = next(iter(self._tokens.items()))
            if at > now - TOKEN_SECONDS:
                break
            del self._tokens[token]
        if self._in_transaction:
            window = now - self.config.tx_window_ms / 1000.0
            self._in_transaction = {k: t for k, t in self._in_transaction.items() if t > window}

    def _forget_table(self, table: str | None) -> None:
        self._log = deque(w for w in self._log if w.table != table)
        self._in_transaction = {k: t for k, t in self._in_transaction.items() if k[0] != table}

