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
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
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

    def add(self) -> None:
        with self._lock:
            self.count += 1


posts = PostCounter()


class _Sink(BaseHTTPRequestHandler):
    """Accepts every @connections POST, like a gateway whose clients are all connected."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        posts.add()
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
        self._active = False
        from chalicelib.models import ALL_MODELS
        from chalicelib.models.base import transaction_connection

        labelled = [(model.Meta.config_key, model._get_connection().connection.client) for model in ALL_MODELS]
        labelled.append(("transactions", transaction_connection().client))
        for label, client in labelled:
            client.meta.events.register("after-call.dynamodb", self._hook(label))

    def _hook(self, label: str) -> Any:
        def after_call(**kwargs: Any) -> None:
            self._after_call(label, **kwargs)

        return after_call

    def _after_call(self, label: str, parsed: dict | None = None, model: Any = None, **_: Any) -> None:
        if not self._active:
            return
        operation = model.name if model is not None else "unknown"
        self.calls[operation] += 1
        self.by_table[label] += 1
        parsed = parsed or {}
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
        self._active = True
        return self

    def __exit__(self, *exc: Any) -> None:
        self._active = False

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())
