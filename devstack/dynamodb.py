"""DynamoDB for the local stack: an embedded moto server whose data survives restarts and crashes.

moto keeps everything in memory. With a data dir, the embedded server journals every write it
applies before answering (devstack/journal.py), and a checkpoint saves every kefu table's items to
``{data_dir}/snapshot.json`` at a journal position, every minute and on stop; a start loads the
snapshot and replays the journal after it, so ``kill -9`` loses nothing that was acknowledged.
Snapshots are keyed by the tables' config keys (not their names), written to a temporary file,
fsynced and renamed into place, so a crash mid-write never leaves half a snapshot.

For a DynamoDB the stack does not run itself (``AWS_ENDPOINT_URL_DYNAMODB``) there is nothing to
journal: snapshots are only taken periodically, through the API (a Scan: fine for dev tooling).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from devstack.journal import JOURNAL_DIR, Journal, replay

log = logging.getLogger(__name__)

SNAPSHOT_FILE = "snapshot.json"
LOCK_FILE = ".lock"  # held by the process that journals into the data dir
SNAPSHOT_FORMAT = "kefu-devstack-snapshot"
SNAPSHOT_VERSION = 2  # 2 added journal_seq; a version 1 snapshot covers no journal write
_READABLE_VERSIONS = (1, 2)
_SNAPSHOT_TEMPORARY = ".snapshot-"


@dataclass(frozen=True)
class Restored:
    """What a start brought back: the snapshot's items and the journal's writes after it."""

    items: int
    replayed: int


class EmbeddedMoto:
    """moto's threaded server on a free port of ``host``, each request applied atomically as
    DynamoDB does (``moto_backend.AtomicMotoServer``: moto's backend alone is not thread-safe).
    With a ``data_dir`` it journals every write (``restore`` then opens the journal; ``checkpoint``
    compacts it into the snapshot)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, sim: Any = None,
                 data_dir: Path | None = None, region: str = "us-east-1", outbox: Path | None = None) -> None:
        from devstack.moto_backend import AtomicMotoServer

        self.data_dir = data_dir
        self.journal = Journal(data_dir / JOURNAL_DIR) if data_dir is not None else None
        self._server = AtomicMotoServer(ip_address=host, port=port, verbose=False, sim=sim,
                                        journal=self.journal, outbox=outbox,
                                        control=self._control if data_dir is not None else None)
        self.sim = self._server.sim.config
        self._region = region
        self._checkpoint_lock = threading.Lock()
        self.endpoint = ""

    @property
    def lock(self) -> threading.Lock:
        """What every request holds while it applies."""
        return self._server.lock

    def start(self) -> str:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self.endpoint

    def stop(self) -> None:
        self._server.stop()
        if self.journal is not None:
            self.journal.close()

    def restore(self, table_names: dict[str, str], path: Path) -> Restored:
        """Load the snapshot at ``path``, replay the journal after it, and start journaling. Call it
        once the tables exist and before anything else writes (writes before it are not journaled)."""
        journal = self._require_journal()
        for leftover in path.parent.glob(f"{_SNAPSHOT_TEMPORARY}*"):
            leftover.unlink(missing_ok=True)  # a checkpoint the last run did not finish
        with self._server.lock:
            loaded = load_snapshot(MotoTables(self._region), table_names, path)
            replayed, last_seq = replay(journal.directory, loaded.journal_seq, self._server.moto_app.apply)
            journal.open(last_seq)
        if replayed:
            log.info("replayed %d journaled writes after the snapshot", replayed)
            self.checkpoint(table_names, path)  # start from one snapshot and an empty journal
        return Restored(loaded.items, replayed)

    def checkpoint(self, table_names: dict[str, str], path: Path) -> int:
        """Snapshot the tables at a journal position, then drop the journal it covers. Returns how
        many items were saved."""
        journal = self._require_journal()
        with self._checkpoint_lock:
            with self._server.lock:  # nothing applies meanwhile: the image is exactly writes <= seq
                seq = journal.rotate()
                tables = capture_tables(MotoTables(self._region), table_names)
            count = write_snapshot(path, tables, seq)
            journal.discard_through(seq)
        return count

    def _control(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """The journal's operations for a stack in another process (``devstack.moto_process``):
        ``restore`` and ``checkpoint`` of the tables named in ``body``, on this data dir's snapshot."""
        assert self.data_dir is not None
        tables, path = dict(body["tables"]), self.data_dir / SNAPSHOT_FILE
        if action == "restore":
            restored = self.restore(tables, path)
            return {"items": restored.items, "replayed": restored.replayed}
        if action == "checkpoint":
            return {"saved": self.checkpoint(tables, path)}
        raise LookupError(f"no journal action {action!r}")

    def _require_journal(self) -> Journal:
        if self.journal is None:
            raise RuntimeError("this embedded DynamoDB has no data dir")
        return self.journal


def lock_data_dir(data_dir: Path, timeout: float = 30.0) -> int:
    """Hold ``data_dir`` for this process (until it exits): one process at a time journals into
    it. A stack killed with ``kill -9`` leaves its DynamoDB process a moment to notice and exit; a
    new start waits for it instead of reading a journal that may still grow."""
    import fcntl

    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise RuntimeError(f"{data_dir} is in use by another local stack") from None
            time.sleep(0.05)


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


class TableStore(Protocol):
    """Where snapshots read items from and load them into (items in the API's JSON form)."""

    def scan(self, table_name: str) -> list[dict[str, Any]]: ...

    def put(self, table_name: str, items: list[dict[str, Any]]) -> None: ...


class ClientTables:
    """Tables through the DynamoDB API (a boto3 client): for an endpoint the stack does not run."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def scan(self, table_name: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in self._client.get_paginator("scan").paginate(TableName=table_name, ConsistentRead=True):
            items.extend({k: _encode(v) for k, v in item.items()} for item in page["Items"])
        return items

    def put(self, table_name: str, items: list[dict[str, Any]]) -> None:
        decoded = [{k: _decode(v) for k, v in item.items()} for item in items]
        for start in range(0, len(decoded), 25):
            requests = [{"PutRequest": {"Item": item}} for item in decoded[start:start + 25]]
            pending: dict[str, Any] = {table_name: requests}
            for attempt in range(8):
                unprocessed = self._client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if not unprocessed:
                    break
                pending = unprocessed
                time.sleep(0.05 * 2 ** attempt)
            else:
                raise RuntimeError(f"could not load every item into {table_name}")


class MotoTables:
    """moto's in-memory tables, read and written directly: only under the server's request lock.
    An image of a few thousand items takes milliseconds (moto's Scan takes seconds to serialise
    them), and loading bypasses the sim's faults."""

    def __init__(self, region: str) -> None:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        self._backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][region]

    def scan(self, table_name: str) -> list[dict[str, Any]]:
        table = self._backend.tables.get(table_name)
        return [] if table is None else [item.to_json()["Attributes"] for item in table.all_items()]

    def put(self, table_name: str, items: list[dict[str, Any]]) -> None:
        table = self._backend.tables[table_name]
        for attrs in items:
            table.put_item(attrs, overwrite=True)


@dataclass(frozen=True)
class LoadedSnapshot:
    items: int
    journal_seq: int  # the last journaled write the snapshot holds (0: none)


def capture_tables(store: TableStore, table_names: dict[str, str]) -> dict[str, Any]:
    """Every table's items, keyed by config key: the ``tables`` of a snapshot."""
    return {key: {"table_name": name, "items": store.scan(name)} for key, name in table_names.items()}


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):  # moto may hold binary values as bytes: the API's form is base64
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot save {type(value).__name__} in a snapshot")


def write_snapshot(path: Path, tables: dict[str, Any], journal_seq: int = 0) -> int:
    """Write ``tables`` (from ``capture_tables``) to ``path`` atomically and durably; returns how
    many items were saved."""
    document = {
        "format": SNAPSHOT_FORMAT,
        "version": SNAPSHOT_VERSION,
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "journal_seq": journal_seq,
        "tables": tables,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=_SNAPSHOT_TEMPORARY, suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, ensure_ascii=False, separators=(",", ":"), default=_json_default)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    # The rename must be on disk before the journal it replaces is deleted.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return sum(len(t["items"]) for t in tables.values())


def save_snapshot(store: TableStore, table_names: dict[str, str], path: Path) -> int:
    """Write every table's items to ``path`` atomically; returns how many items were saved."""
    return write_snapshot(path, capture_tables(store, table_names))


def load_snapshot(store: TableStore, table_names: dict[str, str], path: Path) -> LoadedSnapshot:
    """Put the items of ``path`` back; tables the snapshot knows but the app no longer has are
    skipped with a warning. Without a snapshot nothing is loaded."""
    if not path.exists():
        return LoadedSnapshot(0, 0)
    document = json.loads(path.read_text(encoding="utf-8"))
    if document.get("format") != SNAPSHOT_FORMAT or document.get("version") not in _READABLE_VERSIONS:
        raise ValueError(f"{path} is not a version {SNAPSHOT_VERSION} devstack snapshot")
    loaded = 0
    for key, table in document["tables"].items():
        if key not in table_names:
            log.warning("snapshot table %s is no longer used: skipped", key)
            continue
        store.put(table_names[key], table["items"])
        loaded += len(table["items"])
    return LoadedSnapshot(loaded, int(document.get("journal_seq") or 0))


class Snapshotter:
    """Runs ``save`` (a snapshot or a checkpoint; it returns how many items it saved) every
    ``interval`` seconds from a background thread, and once on ``stop``."""

    def __init__(self, save: Callable[[], int], path: Path, interval: float) -> None:
        self._save = save
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
            count = self._save()
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
