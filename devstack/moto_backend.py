"""moto's server with each request applied atomically.

moto's in-memory backend is not thread-safe: a Query iterating a table while another thread puts
an item fails with "dictionary changed size during iteration" (a 500 DynamoDB never gives). Real
DynamoDB applies every request atomically, so the embedded backend serialises request handling
behind one lock. Clients still race for real: their requests interleave in any order.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from devstack import fast_headers, moto_speedups
from devstack.journal import Journal, JournaledApp
from devstack.outbox import MailOutbox
from devstack.s3_post_policy import S3PostPolicy
from devstack.sim import SimConfig, SimulatedDynamoDB
from devstack.table_reset import TableReset
from devstack.wsgi_server import KeepAliveWSGIServer

DYNAMODB_TARGET = "DynamoDB_20120810."
JOURNAL_CONTROL_PATH = "/_kefu/journal/"
# (action, JSON body) -> JSON answer; LookupError: no such action.
Control = Callable[[str, dict[str, Any]], dict[str, Any]]

log = logging.getLogger(__name__)

HEAP_SETTLE_SECONDS = 30.0
HEAP_RECLAIM_SECONDS = 3600.0


def settle_heap(lock: threading.Lock, reclaim: bool = False) -> None:
    """Collect what became garbage since the last call, then set every object still alive aside
    from the collector's future passes (``gc.freeze``).

    Every stored item is a few dozen Python objects that live as long as the item, and CPython's
    full collection walks all of them whenever the long-lived heap has grown by a quarter: on a
    data directory of some 100,000 messages, a pause of seconds for every request at once. Set
    aside, they are never walked again; an item deleted later is still freed at once (items hold
    no reference cycles, so reference counting frees them). Called every
    ``HEAP_SETTLE_SECONDS``, each collection walks only what is younger than that.

    Under ``lock``: a request being answered holds reference cycles (werkzeug's request and its
    body) that only the collector frees, and set aside they would never be. ``reclaim`` (once an
    hour) walks everything once, for anything that escaped: cycles made in a server thread outside
    the lock, or by the rare request that makes some."""
    with lock:
        if reclaim:
            gc.unfreeze()
        gc.collect()
        gc.freeze()


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
            handler = self._handler()
            if _set_up_data_plane(handler, request, environ):
                status, headers, body = handler.call_action()
            else:
                status, headers, body = handler._dispatch(request, request.raw_url, dict(request.headers))
        except ClientError as e:  # as moto's Flask view answers one
            status, headers, body = 400, {}, e.response["Error"]["Message"]
        payload = body.encode() if isinstance(body, str) else bytes(body or b"")
        reply = [(str(name), str(value)) for name, value in headers.items()
                 if name.lower() not in ("content-length", "status")]
        if not any(name.lower() == "content-type" for name, _ in reply):
            reply.append(("Content-Type", "text/html; charset=utf-8"))  # what Flask's Response adds
        start_response(f"{int(status)} {HTTPStatus(int(status)).phrase}", reply)
        return [payload]


_JSON_CONTENT_TYPES = ("application/x-amz-json-1.0", "application/x-amz-json-1.1", "application/json")


def _set_up_data_plane(handler: Any, request: Any, environ: dict[str, Any]) -> bool:
    """What moto's ``setup_class`` sets for a data-plane request (GetItem, Query, ...: a JSON
    body, no query string, no compression), without what only other protocols need: it parsed the
    JSON body as a form and as a query string (``parse_qsl``), rebuilt the URL three ways, and
    read the parameters through the operation's model (``_install_direct_requests`` reads them
    as JSON anyway). False, and nothing set, for any other request: moto's setup takes it.

    One deliberate difference: moto read a body holding ``Action=`` (a chat message quoting a
    URL, say) as a query string naming another action, and answered 500; this answers it as
    DynamoDB does."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if (environ.get("REQUEST_METHOD") != "POST" or environ.get("QUERY_STRING")
            or environ.get("HTTP_CONTENT_ENCODING") or target[len(DYNAMODB_TARGET):] not in moto_speedups.DATA_PLANE
            or not environ.get("CONTENT_TYPE", "").startswith(_JSON_CONTENT_TYPES)):
        return False
    raw = request.get_data()
    if not raw or moto_speedups.has_binary_value(raw):
        return False
    try:
        params = json.loads(raw)
    except ValueError:
        return False  # moto's parser answers a malformed body as it always did
    if not isinstance(params, dict):
        return False
    from moto.core.responses import get_partition
    from moto.iam.models import mark_account_as_visited

    handler.is_werkzeug_request = True
    handler.normalized_request = request
    handler.raw_body = raw
    handler.body = raw.decode("utf-8")
    handler.form_data = {}
    handler.querystring = handler.data = {}
    handler.path = environ.get("PATH_INFO") or "/"
    raw_uri = environ.get("RAW_URI") or ""
    handler.raw_path = raw_uri if raw_uri.startswith("/") else handler.path  # not a proxy-form target
    handler.uri = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}{handler.raw_path}"
    handler.method = "POST"
    handler.region = handler.get_region_from_url(request, handler.uri)  # host, user agent, then signature
    handler.partition = get_partition(handler.region)
    handler.uri_match = {}
    handler.headers = request.headers
    handler.response_headers = {"server": "amazon.com"}
    handler.params = params
    handler.access_key = handler.get_access_key()
    handler.current_account = handler.get_current_account()
    mark_account_as_visited(account_id=handler.current_account, access_key=handler.access_key,
                            service=handler.service_name, region=handler.region)
    return True


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


class _WithControl:
    """``POST /_kefu/journal/<action>`` (JSON in, JSON out) to ``control``, outside the request
    lock (restore and checkpoint take it themselves); everything else to ``app``."""

    def __init__(self, app: Any, control: Control) -> None:
        self._app = app
        self._control = control

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(JOURNAL_CONTROL_PATH) or environ.get("REQUEST_METHOD") != "POST":
            return self._app(environ, start_response)
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        try:
            status, answer = "200 OK", self._control(path[len(JOURNAL_CONTROL_PATH):], json.loads(raw or b"{}"))
        except LookupError as e:
            status, answer = "404 Not Found", {"error": str(e)}
        except Exception as e:  # noqa: BLE001 - the caller (the stack) reports it
            log.exception("journal control %s failed", path)
            status, answer = "500 Internal Server Error", {"error": f"{type(e).__name__}: {e}"}
        payload = json.dumps(answer).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]


class AtomicMotoServer(ThreadedMotoServer):
    """``ThreadedMotoServer`` whose requests each run alone against the backend, with the faults
    of ``sim`` (devstack/sim.py; plain moto by default), changeable at runtime on ``/_kefu/sim``;
    with a ``journal``, every write moto applies is journaled below the sim (devstack/journal.py);
    mail sent through its SES goes to ``outbox`` (devstack/outbox.py)."""

    def __init__(self, *args: Any, sim: SimConfig | None = None, journal: Journal | None = None,
                 outbox: Path | None = None, control: Control | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()  # every request holds it; so does a snapshot
        self.journal = journal
        self._control = control
        # S3 and SES answer on the same port: uploads checked against their POST policy as S3
        # does, every mail sent written to the outbox. DynamoDB requests skip Flask.
        moto_app = DirectDynamoDB(S3PostPolicy(MailOutbox(DomainDispatcherApplication(create_backend_app), outbox)))
        self.moto_app = JournaledApp(moto_app, journal) if journal is not None else moto_app
        self.sim = SimulatedDynamoDB(self.moto_app, sim)

    def _server_entry(self) -> None:
        install_item_level_rollback()
        moto_speedups.install()
        fast_headers.install()
        app: Any = _Serialized(TableReset(self.sim, journaled=self.journal is not None), self.lock, self.journal)
        if self._control is not None:
            app = _WithControl(app, self._control)
        self._server = KeepAliveWSGIServer(self._ip_address, self._port, app)
        self._server_ready_event.set()
        self._server.serve_forever()

    def stop(self) -> None:
        super().stop()
        if self._server is not None:
            self._server.server_close()


def main(argv: list[str] | None = None) -> None:
    """``python -m devstack.moto_backend [PORT]``: serve until SIGTERM (or SIGINT, or with
    ``--exit-with-parent`` until stdin closes). Tests run it in its own process so the backend
    does not share a GIL with the code racing against it; so does ``make run`` (``--data-dir``:
    journaled, see ``devstack.moto_process``). The sim starts as the ``KEFU_SIM*`` variables say
    (default ``--sim-default``, off); tests switch it on ``/_kefu/sim``."""
    import argparse
    import signal
    import sys

    parser = argparse.ArgumentParser(prog="python -m devstack.moto_backend")
    parser.add_argument("port", nargs="?", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--sim-default", choices=("aws", "off"), default="off")
    parser.add_argument("--data-dir", type=Path, help="journal every write here (restore and checkpoint "
                                                      "on POST /_kefu/journal/...)")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--outbox", type=Path, default=os.environ.get("KEFU_OUTBOX_FILE") or None,
                        help="write every mail sent through SES here (default: $KEFU_OUTBOX_FILE)")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="exit when stdin closes (the parent died or let go), ignoring SIGINT")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("KEFU_DEVSTACK_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("werkzeug", "botocore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    sim = SimConfig.from_environment(args.sim_default)
    if args.data_dir is not None:
        from devstack.dynamodb import EmbeddedMoto, lock_data_dir

        lock_data_dir(args.data_dir)
        server: Any = EmbeddedMoto(args.host, args.port, sim=sim, data_dir=args.data_dir, region=args.region,
                                   outbox=args.outbox)
        address = server.start().removeprefix("http://")
    else:
        server = AtomicMotoServer(ip_address=args.host, port=args.port, verbose=False, sim=sim,
                                  outbox=args.outbox)
        server.start()
        address = "{}:{}".format(*server.get_host_and_port())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.exit_with_parent:
        # Ctrl-C reaches the whole foreground process group; the parent still needs DynamoDB to
        # close its sockets and take the last checkpoint, then lets go of stdin.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        threading.Thread(target=lambda: (sys.stdin.buffer.read(), stop.set()), daemon=True).start()
    else:
        signal.signal(signal.SIGINT, lambda *_: stop.set())
    sys.stdout.write(f"{address}\n")
    sys.stdout.flush()
    settle_at = time.monotonic() + HEAP_SETTLE_SECONDS
    reclaim_at = time.monotonic() + HEAP_RECLAIM_SECONDS
    while not stop.wait(1.0):
        now = time.monotonic()
        if now >= settle_at:
            reclaim = now >= reclaim_at
            settle_heap(server.lock, reclaim=reclaim)
            settle_at = now + HEAP_SETTLE_SECONDS
            if reclaim:
                reclaim_at = now + HEAP_RECLAIM_SECONDS
    server.stop()


if __name__ == "__main__":
    main()
