"""moto's server with each request applied atomically.

moto's in-memory backend is not thread-safe: a Query iterating a table while another thread puts
an item fails with "dictionary changed size during iteration" (a 500 DynamoDB never gives). Real
DynamoDB applies every request atomically, so the embedded backend serialises request handling
behind one lock. Clients still race for real: their requests interleave in any order.
"""

from __future__ import annotations

import threading
from http import HTTPStatus
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from devstack import moto_speedups
from devstack.journal import Journal, JournaledApp
from devstack.sim import SimConfig, SimulatedDynamoDB
from devstack.wsgi_server import KeepAliveWSGIServer

DYNAMODB_TARGET = "DynamoDB_20120810."


def install_item_level_rollback() -> None:
    """Make moto's TransactWriteItems cost what DynamoDB's does: proportional to its items.

    moto backs up every table a transaction touches with ``copy.deepcopy`` (O(table size) per
    transaction, which made a few hundred sessions slow the suite to a crawl). Under the server's
    global lock nothing else runs during a transaction, so a snapshot of just the touched items
    restores exactly the same state on cancellation.
    """
    import copy as _copy

    from moto.dynamodb import models as dynamodb_models
    from moto.dynamodb.models.table import Table

    if getattr(dynamodb_models, "_kefu_item_rollback", False):
        return

    class _NoTableCopy:
        """``copy`` as moto's module sees it: tables are not copied (we snapshot items instead)."""

        def __getattr__(self, name: str) -> Any:
            return getattr(_copy, name)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else _copy.deepcopy(value, memo)

    backend_class = dynamodb_models.DynamoDBBackend
    moto_transact = backend_class.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        snapshots = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            if "Key" in op:
                key = op["Key"]
            else:
                attrs = op.get("Item", {})
                key = {name: attrs[name] for name in (table.hash_key_attr, table.range_key_attr)
                       if name and name in attrs}
            try:
                current = self.get_item(op["TableName"], key)
            except Exception:  # noqa: BLE001 - an invalid key fails the same way inside moto
                continue
            snapshots.append((op["TableName"], key, _copy.deepcopy(current)))
        try:
            moto_transact(self, transact_items)
        except Exception:
            for table_name, key, before in reversed(snapshots):
                if before is None:
                    if self.get_item(table_name, key) is not None:
                        self.delete_item(table_name, key)
                else:
                    self.tables[table_name].put_item(before.to_json()["Attributes"])
            raise

    dynamodb_models.copy = _NoTableCopy()
    backend_class.transact_write_items = transact_write_items
    dynamodb_models._kefu_item_rollback = True


class DirectDynamoDB:
    """WSGI app: DynamoDB requests straight to moto's handler, everything else to ``fallback``
    (moto's own app). On moto's app a GetItem spent half its time in Flask (routing, request and
    app contexts, CORS headers) around a handler that needs none of it."""

    def __init__(self, fallback: Any) -> None:
        from moto.core.request import Request
        from moto.dynamodb.responses import DynamoHandler

        class _Request(Request):
            from_wsgi_server = True  # the server writes the Date header

        self._fallback = fallback
        self._request_class = _Request
        self._handler = DynamoHandler

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith(DYNAMODB_TARGET):
            return self._fallback(environ, start_response)
        from botocore.exceptions import ClientError

        request = self._request_class(environ)
        try:
            status, headers, body = self._handler.dispatch(request, request.raw_url, dict(request.headers))
        except ClientError as e:  # as moto's Flask view answers one
            status, headers, body = 400, {}, e.response["Error"]["Message"]
        payload = body.encode() if isinstance(body, str) else bytes(body or b"")
        reply = [(str(name), str(value)) for name, value in headers.items()
                 if name.lower() not in ("content-length", "status")]
        if not any(name.lower() == "content-type" for name, _ in reply):
            reply.append(("Content-Type", "text/html; charset=utf-8"))  # what Flask's Response adds
        start_response(f"{int(status)} {HTTPStatus(int(status)).phrase}", reply)
        return [payload]


class _Serialized:
    def __init__(self, app: Any, lock: threading.Lock, journal: Journal | None = None) -> None:
        self._app = app
        self._lock = lock
        self._journal = journal

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self._lock:
            # Drain the body inside the lock: moto builds the response lazily on iteration.
            body = [b"".join(self._app(environ, start_response))]
            seen = self._journal.position() if self._journal is not None else 0
        if self._journal is not None:  # the answer leaves once every write it may reflect is on disk
            self._journal.wait_durable(seen)
        return body


class AtomicMotoServer(ThreadedMotoServer):
    """``ThreadedMotoServer`` whose requests each run alone against the backend, with the faults
    of ``sim`` (devstack/sim.py; plain moto by default), changeable at runtime on ``/_kefu/sim``;
    with a ``journal``, every write moto applies is journaled below the sim (devstack/journal.py)."""

    def __init__(self, *args: Any, sim: SimConfig | None = None, journal: Journal | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()  # every request holds it; so does a snapshot
        self.journal = journal
        moto_app = DirectDynamoDB(DomainDispatcherApplication(create_backend_app))
        self.moto_app = JournaledApp(moto_app, journal) if journal is not None else moto_app
        self.sim = SimulatedDynamoDB(self.moto_app, sim)

    def _server_entry(self) -> None:
        install_item_level_rollback()
        moto_speedups.install()
        app = _Serialized(self.sim, self.lock, self.journal)
        self._server = KeepAliveWSGIServer(self._ip_address, self._port, app)
        self._server_ready_event.set()
        self._server.serve_forever()


    def stop(self) -> None:
        super().stop()
        if self._server is not None:
            self._server.server_close()


def main() -> None:
    """``python -m devstack.moto_backend PORT``: serve until killed (tests run it in its own process
    so the backend does not share a GIL with the code racing against it). The sim starts as the
    ``KEFU_SIM*`` variables say (default off); tests switch it on ``/_kefu/sim``."""
    import signal
    import sys

    server = AtomicMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]) if len(sys.argv) > 1 else 0,
                              verbose=False, sim=SimConfig.from_environment("off"))
    server.start()
    host, port = server.get_host_and_port()
    sys.stdout.write(f"{host}:{port}\n")
    sys.stdout.flush()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.stop()


if __name__ == "__main__":
    main()
