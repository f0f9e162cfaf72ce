"""Time in one place: ISO-8601 UTC strings that sort as they read, and epoch seconds for TTLs."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def epoch() -> float:
    return time.time()


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


def sortable_id() -> str:
    """An id that sorts by creation time: 13 digits of epoch milliseconds, then 12 random hex."""
    return f"{int(time.time() * 1000):013d}{os.urandom(6).hex()}"
