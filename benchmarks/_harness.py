"""Shared set-up for the benchmarks: an embedded DynamoDB (moto, own process), a sink for
@connections posts that counts them, and a counter of DynamoDB calls and items read.

The embedded DynamoDB is the realistic backend by default (``KEFU_SIM=aws``: index lag,
transaction conflicts), as for ``make run`` and the tests: a design that keeps its figures only on
plain moto does not keep them. ``KEFU_SIM=off`` measures on plain moto.

Time on moto is not DynamoDB's (moto's Query walks every item), so designs are judged by what
DynamoDB bills and what its latency follows: the calls made and the items read (``Count`` /
``ScannedCount`` of each Query, one per GetItem that found an item). Times are printed beside.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# A script run from benchmarks/ has this folder first on sys.path, where ``queue.py`` would shadow
# the standard library's ``queue`` (urllib3 imports it): the project root replaces it.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]


class PostCounter:
    """How many @connections posts the sink accepted (thread-safe: pushes go out in parallel)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.frames: dict[str, list[dict]] = {}  # connection id -> frames posted to it, while kept

    def add(self, connection_id: str = "", body: bytes = b"") -> None:
        with self._lock:
            self.count += 1
            if connection_id in self.frames:
                self.frames[connection_id].append(json.loads(body or b"null"))

    def keep(self, *connection_ids: str) -> None:
        """Keep the frames posted to these connections from now on (fresh lists)."""
        with self._lock:
            self.frames = {c: [] for c in connection_ids}


posts = PostCounter()


class _Sink(BaseHTTPRequestHandler):
    """Accepts every @connections POST, like a gateway whose clients are all connected."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        posts.add(urllib.parse.unquote(self.path.rsplit("/", 1)[-1]), body)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def sim_mode() -> str:
    return os.environ.get("KEFU_SIM") or "aws"


def wait_for_indexes() -> None:
    """Let the realistic backend's indexes catch up with the seeding (nothing to wait for when off),
    so the measurement starts from a settled database."""
    if sim_mode() != "off":
        time.sleep(float(os.environ.get("KEFU_SIM_GSI_LAG_MS") or 250) / 1000 + 0.1)
        endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")  # and what the rare lag spikes hold back
        try:
            urllib.request.urlopen(urllib.request.Request(f"{endpoint}/_kefu/sim/settle", data=b"", method="POST"),
                                   timeout=5).close()
        except (OSError, ValueError):
            pass  # a backend without the simulation: nothing held back


def _sim_control(knobs: dict | None = None) -> dict | None:
    """The simulator's knobs (``GET /_kefu/sim``), or set them (``POST``); None without a simulator."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    data = None if knobs is None else json.dumps(knobs).encode()
    request = urllib.request.Request(f"{endpoint}/_kefu/sim", data=data, method="GET" if data is None else "POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def seeding() -> Iterator[None]:
    """Fixtures are written with the simulator's faults off (a throttled or lost seeding write is
    not what a benchmark measures, and a script that dies on one measures nothing); the knobs in
    force before come back at the end, with every seeded write visible."""
    knobs = _sim_control()
    if knobs is None or knobs.get("mode") == "off":
        yield
        return
    _sim_control({"mode": "off", "seed": knobs.get("seed", 0)})
    try:
        yield
    finally:
        _sim_control(knobs)


def start_backend() -> None:
    """Start moto and the push sink, and point kefu's environment at them (before importing it)."""
    backend_env = {**os.environ, "KEFU_SIM": sim_mode()}
    process = subprocess.Popen([sys.executable, "-m", "devstack.moto_backend", "0"], cwd=ROOT, env=backend_env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    atexit.register(process.terminate)
    address = process.stdout.readline().strip()
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1", "KEFU_STAGE": "bench", "KEFU_TABLE_PREFIX": "kefu-bench",
        "KEFU_JWT_SECRET": "benchmark-secret-not-for-production", "POWERTOOLS_LOG_LEVEL": "ERROR",
        "POWERTOOLS_METRICS_DISABLED": "true",  # no EMF lines among the figures
        "AWS_ENDPOINT_URL_DYNAMODB": f"http://{address}",
        "KEFU_WS_MANAGEMENT_ENDPOINT": f"http://127.0.0.1:{sink.server_address[1]}",
        "KEFU_HEARTBEAT_WINDOW": "3600",
        # One rate-limit window for the whole run, so a window change never lands in one size only.
        "KEFU_WS_RATE_WINDOW": "3600",
        "KEFU_WS_RATE_LIMIT": "100000",
    })


def create_tables() -> None:
    import boto3

    from chalicelib.models.tables import create_all_tables

    create_all_tables(boto3.client("dynamodb"))


def recreate_tables() -> None:
    """Drop every kefu table and create it again: a measurement that starts from nothing."""
    import boto3

    from chalicelib.models.tables import all_table_specs, create_all_tables

    client = boto3.client("dynamodb")
    names = {spec["TableName"] for spec in all_table_specs().values()}
    for name in client.list_tables()["TableNames"]:
        if name in names:
            client.delete_table(TableName=name)
    create_all_tables(client)


class DynamoCounter:
    """Counts DynamoDB calls and items read through botocore's event hooks on kefu's clients."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.by_table: Counter[str] = Counter()
        self.items_read = 0
        self.faults = 0  # calls DynamoDB (or the simulator) answered with a throttle or a 5xx
        self._active = False
        from benchmarks._capacity import CapacityEstimator
        from chalicelib.models import ALL_MODELS
        from chalicelib.models.base import transaction_connection
        from chalicelib.models.tables import all_table_specs

        self.capacity = CapacityEstimator(all_table_specs())
        clients = {}
        for model in ALL_MODELS:
            clients.setdefault(id(model._get_connection().connection.client),
                               (model.Meta.config_key, model._get_connection().connection.client))
        clients.setdefault(id(transaction_connection().client), ("transactions", transaction_connection().client))
        for label, client in clients.values():
            client.meta.events.register("provide-client-params.dynamodb", self._keep_params)
            client.meta.events.register("after-call.dynamodb", self._hook(label))

    @staticmethod
    def _keep_params(params: dict, context: dict, **_: Any) -> None:
        context["kefu_params"] = params

    def _hook(self, label: str) -> Any:
        def after_call(**kwargs: Any) -> None:
            self._after_call(label, **kwargs)

        return after_call

    def _after_call(self, label: str, parsed: dict | None = None, model: Any = None, context: dict | None = None,
                    http_response: Any = None, **_: Any) -> None:
        operation = model.name if model is not None else "unknown"
        parsed = parsed or {}
        params = (context or {}).get("kefu_params") or {}
        status = getattr(http_response, "status_code", None)
        self.capacity.observe(operation, params, parsed, status, counting=self._active)
        if not self._active:
            return
        self.calls[operation] += 1
        self.by_table[table_label(params, operation) or label] += 1
        error = (parsed.get("Error") or {}).get("Code", "")
        if error and error not in ("ConditionalCheckFailedException", "TransactionCanceledException"):
            self.faults += 1
        if operation in ("Query", "Scan"):
            self.items_read += int(parsed.get("ScannedCount", parsed.get("Count", 0)))
        elif operation == "GetItem" and parsed.get("Item"):
            self.items_read += 1
        elif operation == "BatchGetItem":
            self.items_read += sum(len(v) for v in parsed.get("Responses", {}).values())

    def __enter__(self) -> DynamoCounter:
        self.calls.clear()
        self.by_table.clear()
        self.items_read = 0
        self.faults = 0
        self.capacity.reset()
        self._active = True
        return self

    def __exit__(self, *exc: Any) -> None:
        self._active = False

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def read_units(self) -> float:
        return self.capacity.read_units

    @property
    def write_units(self) -> float:
        return self.capacity.write_units


def table_label(params: dict, operation: str) -> str | None:
    """The config key of the table a call went to (PynamoDB models may share one botocore client,
    so the client does not say); ``transactions`` for a transaction."""
    if operation.startswith("Transact"):
        return "transactions"
    name = params.get("TableName") or next(iter(params.get("RequestItems") or {}), None)
    if not name:
        return None
    from chalicelib.config import get_config

    for key, table in get_config().table_names.items():
        if table == name:
            return key
    return None


class Gateway:
    """API Gateway's side of the WebSocket API for a benchmark: events of the real shape handed to
    the app's deployed handlers (``app.ws_connect`` / ``ws_message`` / ``ws_disconnect``, wrapped by
    Chalice and its middleware), one Lambda context per call."""

    def __init__(self) -> None:
        import app

        self._app = app
        self._next = 0

    def _context(self, connection_id: str, route_key: str, event_type: str) -> dict[str, Any]:
        now_ms = int(time.time() * 1000)
        return {"routeKey": route_key, "eventType": event_type, "messageDirection": "IN", "stage": "api",
                "connectedAt": now_ms, "requestTimeEpoch": now_ms, "requestId": f"req{now_ms}{self._next}",
                "identity": {"sourceIp": "127.0.0.1", "userAgent": "kefu-bench"},
                "domainName": "127.0.0.1", "connectionId": connection_id, "apiId": "kefubench"}

    def _invoke(self, handler: Any, name: str, event: dict[str, Any]) -> dict[str, Any]:
        from devstack.lambda_runtime import LambdaContext

        return handler(event, LambdaContext(f"kefu-bench-{name}"))

    def connect(self, token: str) -> str:
        """A new socket authenticated with ``token``; its connection id (``$connect`` must accept)."""
        self._next += 1
        connection_id = f"bench{self._next:06d}conn="
        event = {"queryStringParameters": {"token": token}, "headers": {},
                 "requestContext": self._context(connection_id, "$connect", "CONNECT"), "isBase64Encoded": False}
        answer = self._invoke(self._app.ws_connect, "ws_connect", event)
        assert answer.get("statusCode") == 200, answer
        return connection_id

    def send(self, connection_id: str, frame: dict[str, Any]) -> dict[str, Any]:
        event = {"requestContext": self._context(connection_id, "$default", "MESSAGE"),
                 "body": json.dumps(frame), "isBase64Encoded": False}
        return self._invoke(self._app.ws_message, "ws_message", event)
