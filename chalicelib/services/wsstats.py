"""WebSocket statistics that hold across Lambda containers: per-minute atomic counters in DynamoDB
(``models.wsstats``), counted by the WebSocket handlers and ``push``, read by
``GET /api/stats/websocket`` over the last 5 and 60 minutes, beside the open connections by role.

A container counts in memory and merges its counts into DynamoDB at most once a second, on the
request path (``record`` flushes when the last flush is a second old; a reader flushes first): one
``UpdateItem`` with ``ADD`` per minute it counted in, whatever it counted, so a busy container pays
one write a second, not one per frame. Lambda cannot run anything after a response, so a
container that goes idle keeps its last second's counts until its next request; nothing is lost,
a reader may see them late. Recording never fails the caller: statistics are not worth a lost
message. An ``ADD`` is not idempotent, so only the refusals that prove it was not applied (a
conflict, throttling) are retried, and counts still refused stay buffered for the next flush;
after an ambiguous failure (a 5xx, a lost connection) they may be missing, never double, and a
warning says so.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.models import ConnectionModel
from chalicelib.models.base import is_refused, retrying
from chalicelib.models.batch import get_all
from chalicelib.models.wsstats import COUNTERS, WsStatsModel, bucket_key
from chalicelib.observability import logger

WINDOWS_MINUTES = (5, 60)
RETENTION_SECONDS = 2 * 3600
RECORD_ATTEMPTS = 4  # a few short backoffs: a request is waiting
FLUSH_INTERVAL_SECONDS = 1.0

_lock = threading.Lock()
_buffer: dict[int, Counter[str]] = {}  # minute -> counts not yet in DynamoDB
_last_flush = 0.0


def record(**counts: int) -> None:
    """Count ``counts`` (names from ``COUNTERS``) in this minute; zeros are skipped. Merged into
    DynamoDB by this call when the container's last flush is a second old."""
    unknown = set(counts) - set(COUNTERS)
    if unknown:
        raise ValueError(f"unknown counters: {sorted(unknown)}")
    now = clock.epoch()
    with _lock:
        minute = _buffer.setdefault(int(now // 60), Counter())
        minute.update({name: value for name, value in counts.items() if value})
        due = now - _last_flush >= FLUSH_INTERVAL_SECONDS
    if due:
        flush()


def flush() -> None:
    """Merge this container's counts into DynamoDB: one ``UpdateItem`` per minute counted in."""
    global _last_flush
    with _lock:
        pending = {minute: counts for minute, counts in _buffer.items() if +counts}
        _buffer.clear()
        _last_flush = clock.epoch()
    for minute, counts in pending.items():
        _write(minute, counts)


def discard() -> None:
    """Forget what this container counted and has not flushed (tests: a fresh container)."""
    global _last_flush
    with _lock:
        _buffer.clear()
        _last_flush = 0.0


def _write(minute: int, counts: Counter[str]) -> None:
    shard = random.randrange(get_config().ws_stats_shards)
    item = WsStatsModel(bucket_key(minute, shard))
    actions = [*(getattr(WsStatsModel, name).add(value) for name, value in counts.items()),
               WsStatsModel.expires_at.set(minute * 60 + RETENTION_SECONDS)]
    try:
        retrying(lambda: item.update(actions=actions), attempts=RECORD_ATTEMPTS, retry_if=is_refused)
    except (PynamoDBException, BotoCoreError, ClientError) as e:
        if isinstance(e, PynamoDBException) and is_refused(e):
            logger.warning("websocket stats refused; kept for the next flush", **counts)
            with _lock:
                _buffer.setdefault(minute, Counter()).update(counts)
            return
        logger.warning("could not record websocket stats; they may be missing", error=type(e).__name__, **counts)


def totals(minutes: int, at: float | None = None) -> dict[str, int]:
    """Each counter summed over the last ``minutes`` minutes, the current one included (this
    container's own counts flushed first)."""
    flush()
    return _sums(_read_minutes(max(WINDOWS_MINUTES), at), minutes, at)


def _read_minutes(minutes: int, at: float | None) -> list[WsStatsModel]:
    current = int((clock.epoch() if at is None else at) // 60)
    shards = get_config().ws_stats_shards
    keys = [bucket_key(minute, shard) for minute in range(current - minutes + 1, current + 1)
            for shard in range(shards)]
    # Strongly consistent: a reader who was just answered expects to see that call counted.
    return get_all(WsStatsModel, keys)


def _sums(items: list[WsStatsModel], minutes: int, at: float | None) -> dict[str, int]:
    current = int((clock.epoch() if at is None else at) // 60)
    sums = dict.fromkeys(COUNTERS, 0)
    for item in items:
        if int(item.bucket.split("#", 1)[0]) > current - minutes:
            for name in COUNTERS:
                sums[name] += int(getattr(item, name) or 0)
    return sums


def open_connections() -> dict[str, dict[str, int]]:
    """Unexpired connection records per user type, and how many of them are live (heartbeat)."""
    now = clock.epoch()
    window = get_config().heartbeat_window_seconds
    counts: dict[str, dict[str, int]] = {}
    for user_type in ("agent", "visitor"):
        open_count = live = 0
        for connection in ConnectionModel.by_type.query(
                user_type, filter_condition=ConnectionModel.expires_at > int(now),
                attributes_to_get=["connection_id", "last_seen_at", "expires_at"]):
            open_count += 1
            live += connection.is_live(window, now)
        counts[user_type] = {"open": open_count, "live": live}
    return counts


def report() -> dict[str, Any]:
    """What ``GET /api/stats/websocket`` answers (this container's own counts flushed first)."""
    flush()
    now = clock.epoch()
    items = _read_minutes(max(WINDOWS_MINUTES), now)
    return {
        "at": clock.iso_from_epoch(now),
        "connections": open_connections(),
        "windows": {f"{m}m": _sums(items, m, now) for m in WINDOWS_MINUTES},
    }
