"""WebSocket statistics that hold across Lambda containers: per-minute atomic counters in DynamoDB
(``models.wsstats``), written by the WebSocket handlers and ``push``, read by
``GET /api/stats/websocket`` over the last 5 and 60 minutes, beside the open connections by role.

Recording costs one ``UpdateItem`` per call, whatever it counts (a fan-out records its whole tally
at once), and never fails the caller: statistics are not worth a lost message. An ``ADD`` is not
idempotent, so only the refusals that prove it was not applied (a conflict, throttling) are retried;
after an ambiguous failure (a 5xx, a lost connection) the count may be one call short, and a warning
says so.
"""

from __future__ import annotations

import random
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
RECORD_ATTEMPTS = 4  # a few short backoffs: the caller (a reply, a push) is waiting


def record(**counts: int) -> None:
    """Add ``counts`` (names from ``COUNTERS``) to this minute's counters; zeros are skipped."""
    unknown = set(counts) - set(COUNTERS)
    if unknown:
        raise ValueError(f"unknown counters: {sorted(unknown)}")
    adds = [getattr(WsStatsModel, name).add(value) for name, value in counts.items() if value]
    if not adds:
        return
    now = clock.epoch()
    minute = int(now // 60)
    shard = random.randrange(get_config().ws_stats_shards)
    item = WsStatsModel(bucket_key(minute, shard))
    actions = [*adds, WsStatsModel.expires_at.set(minute * 60 + RETENTION_SECONDS)]
    try:
        retrying(lambda: item.update(actions=actions), attempts=RECORD_ATTEMPTS, retry_if=is_refused)
    except (PynamoDBException, BotoCoreError, ClientError) as e:
        logger.warning("could not record websocket stats", error=type(e).__name__, **counts)


def totals(minutes: int, at: float | None = None) -> dict[str, int]:
    """Each counter summed over the last ``minutes`` minutes, the current one included."""
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
    """What ``GET /api/stats/websocket`` answers."""
    now = clock.epoch()
    items = _read_minutes(max(WINDOWS_MINUTES), now)
    return {
        "at": clock.iso_from_epoch(now),
        "connections": open_connections(),
        "windows": {f"{m}m": _sums(items, m, now) for m in WINDOWS_MINUTES},
    }
