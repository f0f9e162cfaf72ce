"""Shared set-up for the benchmarks: an embedded DynamoDB (moto, own process), a sink for
@connections posts, and a counter of DynamoDB calls and items read.

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
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class _Sink(BaseHTTPRequestHandler):
    """Accepts every @connections POST, like a gateway whose clients are all connected."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def start_backend() -> None:
    """Start moto and the push sink, and point kefu's environment at them (before importing it)."""
    process = subprocess.Popen([sys.executable, "-m", "devstack.moto_backend", "0"], cwd=ROOT,
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
