"""Time in one place: ISO-8601 UTC strings that sort as they read, and epoch seconds for TTLs."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

_offset_seconds = 0.0


def advance(seconds: float) -> None:
    """Test seam: make every later reading of the clock ``seconds`` later (cumulative)."""
    global _offset_seconds
    _offset_seconds += seconds


def reset() -> None:
    """Test seam: back to the real time."""
    global _offset_seconds
    _offset_seconds = 0.0


def sleep(seconds: float) -> None:
    """Wait (every retry's and every round's backoff goes through here: a seam tests can count)."""
    time.sleep(seconds)


def now() -> datetime:
    return datetime.fromtimestamp(epoch(), UTC)


def epoch() -> float:
    return time.time() + _offset_seconds


def iso(moment: datetime | None = None) -> str:
    """``2026-11-25T15:10:00.123Z``: millisecond precision, lexicographic order is time order."""
    moment = moment or now()
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_from_epoch(seconds: float) -> str:
    return iso(datetime.fromtimestamp(seconds, UTC))


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def epoch_of(text: str) -> float:
    return parse_iso(text).timestamp()


_last_ns = 0
_id_lock = threading.Lock()


def sortable_id_before(moment: str) -> str:
    """A ``sortable_id`` that sorts just before everything made from the ISO time ``moment`` on
    (a conversation's greeting goes before the lines written as it opened)."""
    stamp = int(parse_iso(moment).timestamp() * 1000 - 1) * 1_000_000
    return f"{stamp:019d}{os.urandom(4).hex()}"


def sortable_id() -> str:
    """An id that sorts by creation time: 19 digits of epoch nanoseconds, strictly increasing
    within this process (so ids made in one millisecond keep their order), then 8 random hex
    so ids from different containers never collide."""
    global _last_ns
    with _id_lock:
        _last_ns = max(time.time_ns() + int(_offset_seconds * 1e9), _last_ns + 1)
        stamp = _last_ns
    return f"{stamp:019d}{os.urandom(4).hex()}"
