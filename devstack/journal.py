"""The embedded DynamoDB's write-ahead journal: what it acknowledged survives ``kill -9``.

A snapshot alone loses every write since it was taken. So ``JournaledApp``, a WSGI layer straight
around moto's app (inside the server's request lock, under the sim), appends every write moto
applied (answered 2xx: also those whose answer the sim then loses, since they were applied) to the
journal, as the raw request: operation, region, body. Records are numbered in the order the writes
were applied. No answer leaves the server before an fsync covers everything applied before it was
answered (``wait_durable``), reads included: a read may have seen a write whose own answer is still
waiting. One flusher thread writes and fsyncs whatever accumulated while its previous fsync ran, so
concurrent writers share one fsync (group commit) and a lone writer waits for one fsync only.

On start the stack loads the snapshot, replays the records after the sequence number the snapshot
covers (``replay``, straight into moto: no faults, nothing recorded again), and only then opens the
journal for new records. A checkpoint takes the snapshot at a journal position (``rotate`` under the
request lock: what is buffered is fsynced and later records go to a new segment), writes it, and
deletes the segments it covers (``discard_through``). A crash anywhere in between leaves either the
old snapshot and every segment after it, or the new snapshot and segments whose records it already
covers: replay skips records by sequence number, so nothing is lost and nothing applies twice.

Layout: ``{data_dir}/journal/{first seq:020d}.log``. A record is a header (payload length, sequence
number, CRC-32 of both; big-endian 4 + 8 + 4 bytes) and the payload ``op\\nregion\\nbody``. A record
cut short or failing its checksum (the process died while writing it) ends its segment: no answer
waited for it, so nobody was told it happened.

Anything that changes moto's tables without going through this layer (a background TTL deleter, say)
must either send its change as a request through the app this layer wraps, or call ``record`` with
the equivalent request while it holds the server's request lock; otherwise replay cannot redo it.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

log = logging.getLogger(__name__)

JOURNAL_DIR = "journal"
SEGMENT_SUFFIX = ".log"
DEFAULT_REGION = "us-east-1"

_TARGET = "DynamoDB_20120810."
# Every operation that can change what a table holds; reads are never recorded. (PartiQL statements
# may be reads: replaying one that read is harmless.)
JOURNALED_OPERATIONS = frozenset({
    "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems",
    "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction",
    "CreateTable", "DeleteTable", "UpdateTable", "UpdateTimeToLive",
})
_HEADER = struct.Struct(">IQI")  # payload length, sequence number, CRC-32 of sequence number + payload
_REGION = re.compile(r"Credential=[^/]+/[^/]+/([^/]+)/")
_SEGMENT_NAME = re.compile(r"^(\d{20})\.log$")


class JournalError(RuntimeError):
    """The journal cannot be trusted: a write could not be made durable, or records are missing."""


@dataclass(frozen=True)
class Record:
    """One applied write: enough to apply it again."""

    seq: int
    op: str
    region: str
    body: bytes


def encode_record(record: Record) -> bytes:
    payload = f"{record.op}\n{record.region}\n".encode() + record.body
    return _HEADER.pack(len(payload), record.seq, _checksum(record.seq, payload)) + payload


def _checksum(seq: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(seq.to_bytes(8, "big")))


def read_segment(path: Path) -> Iterator[Record]:
    """The records of one segment, up to the first that is cut short or corrupt."""
    data = path.read_bytes()
    offset = 0
    while offset < len(data):
        if offset + _HEADER.size > len(data):
            break
        length, seq, checksum = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        payload = data[start:start + length]
        if len(payload) < length or _checksum(seq, payload) != checksum:
            break
        op, region, body = payload.split(b"\n", 2)
        yield Record(seq, op.decode(), region.decode(), body)
        offset = start + length
    if offset < len(data):
        log.warning("journal %s: %d bytes after record end ignored (a write cut short by a crash)",
                    path.name, len(data) - offset)


def segments(directory: Path) -> list[tuple[int, Path]]:
    """(first sequence number, path) of every segment, oldest first."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _SEGMENT_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def records_after(directory: Path, after: int) -> Iterator[Record]:
    """Every record numbered above ``after``, in order. A gap means writes are missing: that raises
    rather than apply later writes without earlier ones."""
    expected = after + 1
    for _, path in segments(directory):
        for record in read_segment(path):
            if record.seq < expected:
                continue  # covered by the snapshot (or re-read after a torn tail)
            if record.seq != expected:
                raise JournalError(
                    f"the journal in {directory} jumps from write {expected - 1} to {record.seq}: "
                    "writes are missing. Move the data dir aside (or start with --fresh).")
            expected += 1
            yield record


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync(segment: BinaryIO) -> None:
    segment.flush()
    (getattr(os, "fdatasync", None) or os.fsync)(segment.fileno())


class Journal:
    """The journal files and the group commit. ``record`` and ``rotate`` are called under the
    server's request lock; ``wait_durable`` outside it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._appended = threading.Condition(self._lock)
        self._synced = threading.Condition(self._lock)
        self._pending: list[bytes] = []
        self._last_seq = 0    # the last record appended
        self._synced_seq = 0  # the last record an fsync covered
        self._failure: BaseException | None = None
        self._recording = False
        self._closing = False
        self._io = threading.Lock()  # the segment file: flusher, rotate and close
        self._segment: BinaryIO | None = None
        self._segment_path: Path | None = None
        self._flusher: threading.Thread | None = None
        self.fsyncs = 0  # how many fsyncs made writes durable (group commit: fewer than writes)

    # ---- lifecycle ----------------------------------------------------------------------------

    @property
    def recording(self) -> bool:
        return self._recording

    def open(self, last_seq: int) -> None:
        """Start recording after write ``last_seq`` (the last one replayed, or the snapshot's)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._last_seq = self._synced_seq = last_seq
        with self._io:
            self._start_segment(last_seq + 1)
        self._recording = True
        self._flusher = threading.Thread(target=self._flush_loop, name="devstack-journal", daemon=True)
        self._flusher.start()

    def close(self) -> None:
        """Write and fsync what is buffered, then stop recording."""
        if self._flusher is None:
            return
        with self._lock:
            self._closing = True
            self._appended.notify_all()
        self._flusher.join(timeout=30)
        self._flusher = None
        self._recording = False
        with self._io:
            self._write_pending()
            if self._segment is not None:
                self._segment.close()
                self._segment = None

    def _start_segment(self, first_seq: int) -> None:
        path = self.directory / f"{first_seq:020d}{SEGMENT_SUFFIX}"
        self._segment = path.open("ab")
        self._segment_path = path
        _fsync_directory(self.directory)

    # ---- recording (under the server's request lock) -----------------------------------------

    def record(self, op: str, body: bytes | dict[str, Any], region: str = DEFAULT_REGION) -> int:
        """Append a write that was applied; returns its sequence number (0 when not recording).
        Call it while holding the server's request lock, right after applying the write."""
        if not self._recording:
            return 0
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        with self._lock:
            self._last_seq += 1
            self._pending.append(encode_record(Record(self._last_seq, op, region, raw)))
            self._appended.notify()
            return self._last_seq

    def position(self) -> int:
        """The last write recorded: an answer given now may reflect every write up to it."""
        return self._last_seq

    def rotate(self) -> int:
        """Make everything recorded durable and send later records to a new segment; returns the
        last sequence number recorded. Call it under the server's request lock, so that the
        snapshot taken under the same lock holds exactly the writes up to that number."""
        with self._io:
            self._write_pending()
            with self._lock:
                if self._failure is not None:
                    raise JournalError("the journal failed: no checkpoint") from self._failure
                position = self._last_seq
            if self._segment is not None:
                self._segment.close()
            self._start_segment(position + 1)
        return position

    def discard_through(self, seq: int) -> int:
        """Delete the segments whose every record is numbered ``seq`` or below (a snapshot on disk
        covers them); returns how many were deleted."""
        listed = segments(self.directory)
        deleted = 0
        for (_, path), (next_first, _) in zip(listed, listed[1:], strict=False):
            if next_first - 1 <= seq and path != self._segment_path:
                path.unlink(missing_ok=True)
                deleted += 1
        if deleted:
            _fsync_directory(self.directory)
        return deleted

    # ---- durability ---------------------------------------------------------------------------

    def wait_durable(self, seq: int) -> None:
        """Return once an fsync covers write ``seq``; raise ``JournalError`` if none ever will."""
        with self._lock:
            while self._synced_seq < seq:
                if self._failure is not None:
                    raise JournalError("a write could not be made durable") from self._failure
                self._synced.wait()

    def _flush_loop(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closing:
                    self._appended.wait()
                if not self._pending:
                    return
            with self._io:
                self._write_pending()

    def _write_pending(self) -> None:
        """Write and fsync every buffered record (the caller holds ``_io``)."""
        with self._lock:
            batch, self._pending = self._pending, []
            last = self._last_seq
            if not batch or self._failure is not None:
                return
        try:
            assert self._segment is not None
            self._segment.write(b"".join(batch))
            _sync(self._segment)
        except (OSError, AssertionError) as e:
            log.error("journal write failed: writes are no longer acknowledged (%s)", e)
            with self._lock:
                self._failure = e
                self._synced.notify_all()
            return
        with self._lock:
            self._synced_seq = last
            self.fsyncs += 1
            self._synced.notify_all()


def replay(directory: Path, after: int, apply: Callable[[Record], bool]) -> tuple[int, int]:
    """Apply every record numbered above ``after`` in order. Returns (how many were applied, the
    last sequence number: ``after`` when there were none). ``apply`` answers whether the write
    applied as it did the first time; one that does not is logged (it means the state it met
    differs) and replay goes on."""
    applied = 0
    last = after
    diverged = 0
    for record in records_after(directory, after):
        if not apply(record):
            diverged += 1
        applied += 1
        last = record.seq
    if diverged:
        log.warning("journal replay: %d of %d writes did not apply as they did the first time",
                    diverged, applied)
    return applied, last


class JournaledApp:
    """WSGI app: moto's ``app``, recording into ``journal`` every write it applied. Run it under the
    server's request lock (``moto_backend._Serialized``), below any fault layer."""

    def __init__(self, app: Any, journal: Journal) -> None:
        self._app = app
        self.journal = journal

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        op = target[len(_TARGET):] if target.startswith(_TARGET) else ""
        if op not in JOURNALED_OPERATIONS or not self.journal.recording:
            return self._app(environ, start_response)
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(raw)
        status: list[str] = []

        def capture(code: str, headers: Any, exc_info: Any = None) -> Any:
            status.append(code)
            return start_response(code, headers, exc_info) if exc_info else start_response(code, headers)

        payload = b"".join(self._app(environ, capture))
        if status and status[0].startswith("2"):
            match = _REGION.search(environ.get("HTTP_AUTHORIZATION", ""))
            self.journal.record(op, raw, match.group(1) if match else DEFAULT_REGION)
        return [payload]

    def apply(self, record: Record) -> bool:
        """Send ``record`` to moto itself (not recorded, no faults); True when it answered 2xx."""
        from werkzeug.test import EnvironBuilder

        environ = EnvironBuilder(method="POST", path="/", data=record.body, headers={
            "X-Amz-Target": _TARGET + record.op,
            "Content-Type": "application/x-amz-json-1.0",
            # moto picks the service and region from the credential scope; it checks no signature.
            "Authorization": (f"AWS4-HMAC-SHA256 Credential=journal/20200101/{record.region}/dynamodb/"
                              "aws4_request, SignedHeaders=host, Signature=0"),
        }).get_environ()
        status: list[str] = []
        answer = b"".join(self._app(environ, lambda code, headers, exc_info=None: status.append(code)))
        if status and status[0].startswith("2"):
            return True
        log.warning("journal replay: write %d (%s) answered %s: %s", record.seq, record.op,
                    status[0] if status else "nothing", answer[:300].decode(errors="replace"))
        return False
