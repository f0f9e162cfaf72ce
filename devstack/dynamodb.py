"""DynamoDB for the local stack: an embedded moto server, and snapshots so data survives restarts.

moto keeps everything in memory, so the stack saves every kefu table's items to
``{data_dir}/snapshot.json`` on stop and periodically, and loads them at start. Snapshots are keyed
by the tables' config keys (not their names), written to a temporary file and renamed into place so
a crash mid-write never leaves half a snapshot. Scanning is fine here: this is dev tooling.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SNAPSHOT_FILE = "snapshot.json"
SNAPSHOT_FORMAT = "kefu-devstack-snapshot"
SNAPSHOT_VERSION = 1


class EmbeddedMoto:
    """moto's threaded server on a free port of ``host``, each request applied atomically as
    DynamoDB does (``moto_backend.AtomicMotoServer``: moto's backend alone is not thread-safe)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, sim: Any = None) -> None:
        from devstack.moto_backend import AtomicMotoServer

        self._server = AtomicMotoServer(ip_address=host, port=port, verbose=False, sim=sim)
        self.sim = self._server.sim.config
        self.endpoint = ""

    def start(self) -> str:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self.endpoint

    def stop(self) -> None:
        self._server.stop()


# The low-level client returns binary attributes as bytes; JSON needs text, and loading needs them
# back as bytes. Only B and BS hold bytes; M and L may nest them.
def _encode(value: dict[str, Any]) -> dict[str, Any]:
    (kind, inner), = value.items()
    if kind == "B":
        return {"B": base64.b64encode(inner).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(b).decode() for b in inner]}
    if kind == "M":
        return {"M": {k: _encode(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_encode(v) for v in inner]}
    return value


def _decode(value: dict[str, Any]) -> dict[str, Any]:
    (kind, inner), = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(b) for b in inner]}
    if kind == "M":
        return {"M": {k: _decode(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_decode(v) for v in inner]}
    return value


def _scan(client: Any, table_name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=table_name, ConsistentRead=True):
        items.extend({k: _encode(v) for k, v in item.items()} for item in page["Items"])
    return items


def save_snapshot(client: Any, table_names: dict[str, str], path: Path) -> int:
    """Write every table's items to ``path`` atomically; returns how many items were saved."""
    tables = {key: {"table_name": name, "items": _scan(client, name)} for key, name in table_names.items()}
    document = {
        "format": SNAPSHOT_FORMAT,
        "version": SNAPSHOT_VERSION,
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "tables": tables,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".snapshot-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, ensure_ascii=False, separators=(",", ":"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return sum(len(t["items"]) for t in tables.values())


def _batch_put(client: Any, table_name: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]
        pending: dict[str, Any] = {table_name: requests}
        for attempt in range(8):
            unprocessed = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not unprocessed:
                break
            pending = unprocessed
            time.sleep(0.05 * 2 ** attempt)
        else:
            raise RuntimeError(f"could not load every item into {table_name}")


def load_snapshot(client: Any, table_names: dict[str, str], path: Path) -> int:
    """Put the items of ``path`` back; tables the snapshot knows but the app no longer has are
    skipped with a warning. Returns how many items were loaded (0 without a snapshot)."""
    if not path.exists():
        return 0
    document = json.loads(path.read_text(encoding="utf-8"))
    if document.get("format") != SNAPSHOT_FORMAT or document.get("version") != SNAPSHOT_VERSION:
        raise ValueError(f"{path} is not a version {SNAPSHOT_VERSION} devstack snapshot")
    loaded = 0
    for key, table in document["tables"].items():
        if key not in table_names:
            log.warning("snapshot table %s is no longer used: skipped", key)
            continue
        items = [{k: _decode(v) for k, v in item.items()} for item in table["items"]]
        _batch_put(client, table_names[key], items)
        loaded += len(items)
    return loaded


class Snapshotter:
    """Saves a snapshot every ``interval`` seconds from a background thread, and once on ``stop``."""

    def __init__(self, client: Any, table_names: dict[str, str], path: Path, interval: float) -> None:
        self._client = client
        self._table_names = table_names
        self.path = path
        self._interval = interval
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="devstack-snapshot", daemon=True)
        self._thread.start()

    def save(self) -> int:
        with self._lock:
            count = save_snapshot(self._client, self._table_names, self.path)
        log.debug("snapshot saved: %d items in %s", count, self.path)
        return count

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        count = self.save()
        log.info("snapshot saved: %d items in %s", count, self.path)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.save()
            except Exception:
                log.exception("periodic snapshot failed")
