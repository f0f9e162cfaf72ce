"""DynamoDB as unkind as AWS: index lag, conflicts, throttling, lost answers, late TTL deletes.

moto answers every request from the present, never conflicts, never throttles, never loses an
answer and never deletes an expired item. ``SimulatedDynamoDB`` is a WSGI layer in front of moto's
app (inside the server's lock, so each request still applies atomically) that adds what DynamoDB
documents. Every knob is in docs/local-stack.md; in short:

- index lag (devstack/replica.py): each write reaches the table's lagging replica and indexes at
  its own moment, 0..``gsi_lag_ms`` after it applied (an item's versions in order); index reads
  are answered from that replica, a fraction ``lag_spike`` of them from a copy trailing by
  ``lag_spike_ms / 5``..``lag_spike_ms``. A fraction ``stale_read`` of eventually consistent
  base-table reads is answered from the lagging replica too. ``ConsistentRead`` and transactions
  see the present.
- transaction conflicts: an item a TransactWriteItems wrote or checked is "in a transaction" for
  ``tx_window_ms``: a plain PutItem / UpdateItem / DeleteItem / BatchWriteItem on it fails with
  ``TransactionConflictException`` at rate ``tx_conflict``, a transaction meeting it is cancelled
  with reason ``TransactionConflict`` at the same rate. An item a plain write changed is "in
  flight" for ``write_window_ms``: a transaction meeting it is cancelled with ``TransactionConflict``
  at rate ``write_conflict``.
- throttling: a fraction ``throttle`` of data-plane calls is refused before applying: plain calls
  with ``ProvisionedThroughputExceededException``, transactions with a cancellation whose reason is
  ``ThrottlingError`` (on-demand tables) or ``ProvisionedThroughputExceeded``, batches with part of
  their items unprocessed (all of them: the exception).
- lost answers: a fraction ``lost_response`` of applied writes is answered with a 500
  ``InternalServerError`` or a reset connection, below any client's retries, so a retry meets its
  own success.
- TTL (devstack/ttl.py): items whose TTL attribute is past are deleted 0..``ttl_delay_s`` after
  they expire; reads return them until then.
- idempotency tokens (in every mode, since DynamoDB always honours them and moto ignores them): a
  TransactWriteItems that committed with a ``ClientRequestToken`` is remembered for 10 minutes; an
  identical request with that token is answered with success without applying again, a different
  one with ``IdempotentParameterMismatchException``. A cancelled or refused one is not remembered.

Randomness comes from ``random.Random`` streams seeded by ``seed`` (one for faults, one for lag,
one for TTL): the same seed and the same requests give the same faults, as far as the clock lets.
``POST /_kefu/sim`` (JSON knobs) reconfigures at runtime and makes every write visible; ``GET``
shows the knobs in force; ``POST /_kefu/sim/settle`` makes every write so far visible everywhere
(what waiting for the longest lag would show).
"""

from __future__ import annotations

import copy
import io
import json
import random
import socket
import time
import zlib
from dataclasses import asdict
from typing import Any

from devstack import sim_wire as wire
from devstack.replica import LaggingReplicas
from devstack.sim_config import SimConfig
from devstack.ttl import TtlDeleter, expiry_of, ttl_attribute

CONTROL_PATH = "/_kefu/sim"
SETTLE_PATH = "/_kefu/sim/settle"
_PLAIN_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
_WRITES = _PLAIN_WRITES | {"BatchWriteItem", "TransactWriteItems"}
_READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
_SCHEMA_CHANGES = {"CreateTable", "DeleteTable", "UpdateTable"}
TOKEN_SECONDS = 600.0


class SimulatedDynamoDB:
    """WSGI app: moto's ``app`` with the faults of ``config``. Not thread-safe: run it under the
    server's lock (``moto_backend._Serialized``)."""

    def __init__(self, app: Any, config: SimConfig | None = None) -> None:
        self._app = app
        self._dynamodb_app: Any = None
        self._replicas = LaggingReplicas()
        # key -> when it was last written by a transaction / a plain write; oldest first.
        self._in_transaction: dict[wire.TableKey, float] = {}
        self._in_flight: dict[wire.TableKey, float] = {}
        # ClientRequestToken -> (the request without it, when it committed); oldest first. Kept
        # across ``configure``: DynamoDB's memory of a commit does not depend on the faults.
        self._tokens: dict[str, tuple[str, float]] = {}
        self._ttl_watched = False
        self.configure(config or SimConfig())

    def configure(self, config: SimConfig) -> SimConfig:
        """New knobs, fresh random streams; every write so far is visible from now on."""
        self.config = config
        self._faults = random.Random(f"{config.seed}:faults")
        self._lag = random.Random(f"{config.seed}:lag")
        self._ttl = TtlDeleter(config.ttl_delay_s, random.Random(f"{config.seed}:ttl"))
        self._ttl_watched = False
        self._replicas.clear()
        self._in_transaction.clear()
        self._in_flight.clear()
        return config

    # -- WSGI ---------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "").rstrip("/")
        if path in (CONTROL_PATH, SETTLE_PATH):
            return self._control(path, environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith(wire.TARGET):
            return self._app(environ, start_response)
        op = target[len(wire.TARGET):]
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(raw)
        app = self._dynamodb(environ)
        tables = wire.Tables(environ)
        now = time.monotonic()
        self._background(now, tables)
        if op in _SCHEMA_CHANGES or op == "UpdateTimeToLive":
            return self._schema_change(op, json.loads(raw or b"{}"), tables, app, environ, start_response)
        if op not in _WRITES and op not in _READS:
            return app(environ, start_response)
        body = json.loads(raw or b"{}")
        config = self.config
        if config.throttle and self._faults.random() < config.throttle:
            return self._throttled(op, body, tables, app, environ, start_response, now)
        return self._serve(op, body, tables, app, environ, start_response, now)

    def _serve(self, op: str, body: dict[str, Any], tables: wire.Tables, app: Any, environ: dict[str, Any],
               start_response: Any, now: float, unprocessed: dict[str, Any] | None = None) -> Any:
        if op == "TransactWriteItems" and body.get("ClientRequestToken"):
            repeated = self._repeated(body, start_response)
            if repeated is not None:
                return repeated
        if op in _WRITES or op == "TransactGetItems":
            refused = self._conflict(op, body, tables, start_response)
            if refused is not None:
                return refused
        if op in _WRITES:
            return self._write(op, body, tables, app, environ, start_response, now, unprocessed)
        return self._read(op, body, tables, app, environ, start_response, now, unprocessed)

    def _dynamodb(self, environ: dict[str, Any]) -> Any:
        """moto's DynamoDB app, looked up once: moto's dispatcher would search it again each time."""
        if self._dynamodb_app is None:
            find = getattr(self._app, "get_application", None)
            self._dynamodb_app = find(environ) if find is not None else self._app
        return self._dynamodb_app

    def _control(self, path: str, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ.get("REQUEST_METHOD") == "POST":
            if path == SETTLE_PATH:
                self._replicas.settle(time.monotonic())
            else:
                try:
                    length = int(environ.get("CONTENT_LENGTH") or 0)
                    knobs = json.loads(environ["wsgi.input"].read(length) or b"{}")
                    self.configure(SimConfig.build(**knobs))
                except (TypeError, ValueError) as e:
                    return wire.json_response(start_response, "400 Bad Request", {"error": str(e)})
        return wire.json_response(start_response, "200 OK", asdict(self.config))

    def table_emptied(self, name: str) -> None:
        """Every item of ``name`` was dropped in place (``TableReset``): what the simulator keeps
        per table goes, as for a DeleteTable followed by a CreateTable."""
        self._replicas.forget(name)
        self._ttl.forget_table(name)
        self._in_transaction = {k: t for k, t in self._in_transaction.items() if k[0] != name}
        self._in_flight = {k: t for k, t in self._in_flight.items() if k[0] != name}

    def _schema_change(self, op: str, body: dict[str, Any], tables: wire.Tables, app: Any,
                       environ: dict[str, Any], start_response: Any) -> Any:
        name = body.get("TableName")
        self._replicas.forget(name)
        if op != "UpdateTimeToLive":
            self._ttl.forget_table(name)
            self._in_transaction = {k: t for k, t in self._in_transaction.items() if k[0] != name}
            self._in_flight = {k: t for k, t in self._in_flight.items() if k[0] != name}
        answer = [b"".join(app(environ, start_response))]
        if op in ("UpdateTimeToLive", "UpdateTable") and tables.get(name) is not None:
            self._ttl.watch_table(name, tables.get(name))
        return answer

    # -- faults -------------------------------------------------------------------------------
    def _throttled(self, op: str, body: dict[str, Any], tables: wire.Tables, app: Any, environ: dict[str, Any],
                   start_response: Any, now: float) -> Any:
        if op in ("TransactWriteItems", "TransactGetItems"):
            entries = wire.transact_entries(body)
            if entries:
                hit = self._faults.randrange(len(entries))
                return wire.cancelled(start_response, [
                    wire.throttle_reason(tables.get(spec.get("TableName"))) if i == hit else {"Code": "None"}
                    for i, (_, spec) in enumerate(entries)])
        if op in ("BatchWriteItem", "BatchGetItem"):
            processed, unprocessed = self._split_batch(op, body)
            if processed:
                raw = json.dumps(processed).encode()
                environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(raw), str(len(raw))
                return self._serve(op, processed, tables, app, environ, start_response, now, unprocessed)
        return wire.error(start_response, "400 Bad Request", "ProvisionedThroughputExceededException",
                          wire.PROVISIONED_THROTTLE)

    def _split_batch(self, op: str, body: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """A throttled batch: one of its items, and each other at even odds, left unprocessed.
        Returns the request for the rest (None when nothing is left) and what to answer as
        unprocessed."""
        specs = body.get("RequestItems") or {}
        entries = [(table, request) for table, spec in specs.items()
                   for request in (spec if op == "BatchWriteItem" else spec.get("Keys") or [])]
        surely = self._faults.randrange(len(entries)) if entries else -1
        kept: dict[str, list[Any]] = {}
        left: dict[str, list[Any]] = {}
        for i, (table, request) in enumerate(entries):
            unprocessed = i == surely or self._faults.random() < 0.5
            (left if unprocessed else kept).setdefault(table, []).append(request)

        def shaped(chosen: dict[str, list[Any]]) -> dict[str, Any]:
            if op == "BatchWriteItem":
                return chosen
            return {table: {**specs[table], "Keys": keys} for table, keys in chosen.items()}

        return ({**body, "RequestItems": shaped(kept)} if kept else None), shaped(left)

    def _conflict(self, op: str, body: dict[str, Any], tables: wire.Tables, start_response: Any) -> Any:
        config = self.config
        if op.startswith("Transact"):
            keys = wire.transact_keys(body, tables)
            in_tx = [key is not None and key in self._in_transaction for key in keys] if config.tx_conflict else []
            in_flight = [key is not None and key in self._in_flight for key in keys] if config.write_conflict else []
            rate = max(config.tx_conflict if any(in_tx) else 0.0, config.write_conflict if any(in_flight) else 0.0)
            if not rate or self._faults.random() >= rate:
                return None
            busy = [any(flags) for flags in zip(in_tx or [False] * len(keys), in_flight or [False] * len(keys),
                                                strict=True)]
            return wire.cancelled(start_response, [
                {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
                if hit else {"Code": "None"} for hit in busy])
        if not config.tx_conflict or not self._in_transaction:
            return None
        if not any(key in self._in_transaction for key in wire.touched(op, body, tables)):
            return None
        if self._faults.random() >= config.tx_conflict:
            return None
        return wire.error(start_response, "400 Bad Request", "TransactionConflictException",
                          "Transaction is ongoing for the item")

    def _repeated(self, body: dict[str, Any], start_response: Any) -> Any:
        """The answer to a transaction whose token already committed, or None to run it."""
        remembered = self._tokens.get(body["ClientRequestToken"])
        if remembered is None:
            return None
        if remembered[0] != wire.fingerprint(body):
            return wire.error(start_response, "400 Bad Request", "IdempotentParameterMismatchException",
                              "The request uses the same client token as a previous, but non-identical request.")
        return wire.json_response(start_response, "200 OK", {})

    def _write(self, op: str, body: dict[str, Any], tables: wire.Tables, app: Any, environ: dict[str, Any],
               start_response: Any, now: float, unprocessed: dict[str, Any] | None) -> Any:
        config = self.config
        changed = wire.touched(op, body, tables, changed_only=True)
        if config.lags:
            for name in {key[0] for key in changed}:
                self._replicas.before_write(name, tables.get(name), with_laggard=config.lag_spike > 0)
        lost = reset = False
        # Drawn before applying so the random sequence does not depend on the outcome.
        if config.lost_response:
            lost = self._faults.random() < config.lost_response
            reset = self._faults.random() < 0.5
        answer: list[Any] = []

        def capture(status: str, headers: Any, exc_info: Any = None) -> Any:
            answer[:] = [status, headers]
            return lambda data: None

        payload = b"".join(app(environ, capture))
        ok = bool(answer) and answer[0].startswith("2")
        if ok:
            self._applied(op, body, tables, changed, now)
            if unprocessed:
                answer[1], payload = _with_unprocessed(answer[1], payload, "UnprocessedItems", unprocessed)
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
        return wire.error(start_response, "500 Internal Server Error", "InternalServerError", "Internal server error")

    def _applied(self, op: str, body: dict[str, Any], tables: wire.Tables, changed: list[wire.TableKey],
                 now: float) -> None:
        """Bookkeeping after a write applied: replicas and indexes learn of it late, TTL watches
        it, the items are in a transaction or in flight for a while, the token is remembered."""
        config = self.config
        lag_s = config.gsi_lag_ms / 1000.0
        for key in changed:
            item = tables.item(key)
            if config.lags:
                self._replicas.log(key[0], key[1], None if item is None else copy.deepcopy(item),
                                   now + self._lag.uniform(0.0, lag_s))
            attribute = ttl_attribute(tables.get(key[0]))
            if attribute is not None:
                self._ttl.watch(key[0], key[1], expiry_of(item, attribute))
        if op == "TransactWriteItems":
            if config.tx_conflict:
                for key in wire.touched(op, body, tables):
                    self._in_transaction.pop(key, None)
                    self._in_transaction[key] = now
            if body.get("ClientRequestToken"):
                self._tokens[body["ClientRequestToken"]] = (wire.fingerprint(body), now)
        elif config.write_conflict:
            for key in changed:
                self._in_flight.pop(key, None)
                self._in_flight[key] = now

    def _read(self, op: str, body: dict[str, Any], tables: wire.Tables, app: Any, environ: dict[str, Any],
              start_response: Any, now: float, unprocessed: dict[str, Any] | None) -> Any:
        views = self._lagging_views(op, body, now)
        if unprocessed:
            answer: list[Any] = []

            def capture(status: str, headers: Any, exc_info: Any = None) -> Any:
                answer[:] = [status, headers]
                return lambda data: None

            payload = b"".join(self._with_views(views, tables, app, environ, capture))
            headers = answer[1]
            if answer[0].startswith("2"):
                headers, payload = _with_unprocessed(headers, payload, "UnprocessedKeys", unprocessed)
            start_response(answer[0], headers)
            return [payload]
        if not views:
            return app(environ, start_response)
        return [b"".join(self._with_views(views, tables, app, environ, start_response))]

    def _with_views(self, views: dict[str, Any], tables: wire.Tables, app: Any, environ: dict[str, Any],
                    start_response: Any) -> Any:
        """Run the request with lagging copies in place of the tables they copy."""
        originals = {name: tables.tables[name] for name in views if name in tables.tables}
        tables.tables.update({name: view for name, view in views.items() if name in originals})
        try:
            return [b"".join(app(environ, start_response))]
        finally:
            tables.tables.update(originals)

    def _lagging_views(self, op: str, body: dict[str, Any], now: float) -> dict[str, Any]:
        """The tables a read is answered from the past for, with the copy that answers it."""
        config = self.config
        if not config.lags or op == "TransactGetItems":
            return {}
        longest = config.lag_spike_ms / 1000.0 if config.lag_spike else 0.0
        if op == "BatchGetItem":
            names = [name for name, spec in (body.get("RequestItems") or {}).items() if not spec.get("ConsistentRead")]
            stale = bool(names) and config.stale_read and self._lag.random() < config.stale_read
            views = {name: self._replicas.replica(name, now, longest) for name in names} if stale else {}
            return {name: view for name, view in views.items() if view is not None}
        name = body.get("TableName") or ""
        if op in ("Query", "Scan") and body.get("IndexName"):
            if config.lag_spike and self._lag.random() < config.lag_spike:
                spike = self._lag.uniform(longest / 5, longest)
                view = self._replicas.laggard(name, now, spike, longest)
            else:
                view = self._replicas.replica(name, now, longest)
        elif not body.get("ConsistentRead") and config.stale_read and self._lag.random() < config.stale_read:
            view = self._replicas.replica(name, now, longest)
        else:
            view = None
        return {} if view is None else {name: view}

    # -- bookkeeping --------------------------------------------------------------------------
    def _background(self, now: float, tables: wire.Tables) -> None:
        """What DynamoDB does between requests: windows close, tokens age, TTL deletes."""
        for window, held in ((self.config.tx_window_ms, self._in_transaction),
                             (self.config.write_window_ms, self._in_flight)):
            horizon = now - window / 1000.0
            while held:
                key, at = next(iter(held.items()))
                if at > horizon:
                    break
                del held[key]
        while self._tokens:
            token, (_, at) = next(iter(self._tokens.items()))
            if at > now - TOKEN_SECONDS:
                break
            del self._tokens[token]
        if self.config.lags:
            self._replicas.advance(now, self.config.lag_spike_ms / 1000.0 if self.config.lag_spike else 0.0)
        if self._ttl.enabled:
            if not self._ttl_watched:
                self._ttl.watch_all(tables.tables)
                self._ttl_watched = True
            for name, table, key in self._ttl.due(time.time(), tables.tables):
                if self.config.lags:
                    self._replicas.before_write(name, table, with_laggard=self.config.lag_spike > 0)
                table.delete_item(*key)
                if self.config.lags:
                    self._replicas.log(name, key, None, now + self._lag.uniform(0.0, self.config.gsi_lag_ms / 1000.0))


def _with_unprocessed(headers: Any, payload: bytes, field: str, unprocessed: dict[str, Any]) -> tuple[Any, bytes]:
    """moto's answer to the processed part of a batch, with the rest reported unprocessed."""
    document = json.loads(payload or b"{}")
    document[field] = {**(document.get(field) or {}), **unprocessed}
    payload = json.dumps(document).encode()
    rewritten = [(k, v) for k, v in headers if k.lower() not in ("content-length", "x-amz-crc32")]
    rewritten += [("Content-Length", str(len(payload))), ("X-Amz-Crc32", str(zlib.crc32(payload)))]
    return rewritten, payload

