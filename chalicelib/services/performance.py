"""Measured performance: every REST view and WebSocket action is timed (``api.responses.route``
and the WebSocket dispatcher call ``record``), merged across Lambda containers into per-minute
histograms in DynamoDB, and read back as requests, errors and p50/p95/p99 per route or action.

Each container buffers its counts and merges them (one UpdateItem with ``ADD`` per route and
minute it saw, about 0.5 KB: one write unit) at most once a second, at the end of a request, and
always before it reads. So a flush never writes more items than it counted requests (at most one
write per request, far fewer under load), and the measured requests do not wait on DynamoDB.
Complete means: everything this container counted, plus what every other container counted up to
its last flush (at most one second before its last request). A failure to flush is logged and
never fails the request that triggered it; counts DynamoDB refused (throttling, a conflict) stay
buffered for the next flush, while those whose answer was lost are dropped, since an ``ADD`` sent
again could count them twice.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import msgspec
from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from chalicelib import clock
from chalicelib.models import MetricModel
from chalicelib.models.base import is_refused
from chalicelib.models.metric import BINS, LATENCY_EDGES_MS, bin_name
from chalicelib.observability import logger

RETENTION_SECONDS = 2 * 86400
WINDOWS_MINUTES = (5, 60)
PERCENTILES = (50, 95, 99)


def bin_of(latency_ms: float) -> int:
    """The histogram bin of a latency: the first whose upper edge is above it."""
    return bisect.bisect_right(LATENCY_EDGES_MS, latency_ms)


def _hour_of(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H")


FLUSH_INTERVAL_SECONDS = 1.0


class _Counts(msgspec.Struct):
    requests: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    bins: Counter[int] = msgspec.field(default_factory=Counter)


_buffer: dict[tuple[int, str, str], _Counts] = {}
_lock = threading.Lock()
_last_flush = 0.0


def record(kind: str, name: str, seconds: float, status: int) -> None:
    """Count one request of ``kind`` (``rest`` or ``ws``) ``name`` that took ``seconds`` and was
    answered with ``status`` (HTTP, or the REST status of the error a frame got); flushes the
    container's buffer when the last flush is a second old."""
    minute = int(clock.epoch() // 60)
    with _lock:
        counts = _buffer.setdefault((minute, kind, name), _Counts())
        counts.requests += 1
        counts.bins[bin_of(seconds * 1000)] += 1
        if 400 <= status < 500:
            counts.errors_4xx += 1
        elif status >= 500:
            counts.errors_5xx += 1
    if time.monotonic() - _last_flush >= FLUSH_INTERVAL_SECONDS:
        flush()


def _write(minute: int, kind: str, name: str, counts: _Counts) -> None:
    actions = [MetricModel.requests.add(counts.requests),
               MetricModel.expires_at.set(int(clock.epoch()) + RETENTION_SECONDS)]
    actions += [getattr(MetricModel, bin_name(index)).add(n) for index, n in sorted(counts.bins.items())]
    if counts.errors_4xx:
        actions.append(MetricModel.errors_4xx.add(counts.errors_4xx))
    if counts.errors_5xx:
        actions.append(MetricModel.errors_5xx.add(counts.errors_5xx))
    MetricModel(_hour_of(minute), f"{minute}#{kind}#{name}").update(actions=actions)


def flush() -> None:
    """Merge this container's buffered counts into DynamoDB (one UpdateItem per route-minute)."""
    global _last_flush
    with _lock:
        pending = dict(_buffer)
        _buffer.clear()
        _last_flush = time.monotonic()
    for (minute, kind, name), counts in pending.items():
        try:
            _write(minute, kind, name, counts)
        except (PynamoDBException, BotoCoreError, ClientError) as e:
            if not is_refused(e):  # maybe applied: merging back could count it twice
                logger.exception("could not record request counts; they may be missing",
                                 kind=kind, route=name)
                continue
            logger.warning("request counts refused; kept for the next flush", kind=kind, route=name)
            with _lock:
                _merge_back(_buffer.setdefault((minute, kind, name), _Counts()), counts)


def _merge_back(into: _Counts, counts: _Counts) -> None:
    into.requests += counts.requests
    into.errors_4xx += counts.errors_4xx
    into.errors_5xx += counts.errors_5xx
    into.bins.update(counts.bins)


def _upper_edge(index: int) -> float | None:
    return round(LATENCY_EDGES_MS[index], 2) if index < len(LATENCY_EDGES_MS) else None


def _percentile(histogram: list[int], total: int, percentile: int) -> float | None:
    """The upper edge of the bin holding the request at this rank: never below the true value,
    at most one bin above it (null for the open last bin)."""
    rank = max(1, -(-total * percentile // 100))  # ceil
    seen = 0
    for index, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            return _upper_edge(index)
    return None


def _items(hour: str, first_minute: int, last_minute: int) -> list[MetricModel]:
    # Strongly consistent: a reader who was just answered expects to see that request counted.
    return list(MetricModel.query(hour, MetricModel.slot.between(f"{first_minute}#", f"{last_minute}#~"),
                                  consistent_read=True))


def report(window_minutes: int) -> dict[str, Any]:
    """Per REST route and WebSocket action over the last ``window_minutes`` (this minute included)."""
    flush()
    last = int(clock.epoch() // 60)
    first = last - window_minutes + 1
    hours = sorted({_hour_of(first), _hour_of(last)})
    with ThreadPoolExecutor(max_workers=len(hours)) as pool:
        items = [item for page in pool.map(lambda h: _items(h, first, last), hours) for item in page]
    merged: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"requests": 0, "errors_4xx": 0, "errors_5xx": 0, "histogram": [0] * BINS})
    for item in items:
        minute, kind, name = item.slot.split("#", 2)
        if not first <= int(minute) <= last:
            continue
        entry = merged[(kind, name)]
        entry["requests"] += int(item.requests or 0)
        entry["errors_4xx"] += int(item.errors_4xx or 0)
        entry["errors_5xx"] += int(item.errors_5xx or 0)
        for index in range(BINS):
            entry["histogram"][index] += int(getattr(item, bin_name(index)) or 0)
    result: dict[str, Any] = {"window_minutes": window_minutes,
                              "from": clock.iso_from_epoch(first * 60),
                              "to": clock.iso_from_epoch((last + 1) * 60),
                              "rest": {}, "websocket": {},
                              "bin_upper_edges_ms": [round(e, 2) for e in LATENCY_EDGES_MS]}
    for (kind, name), entry in sorted(merged.items()):
        total = entry["requests"]
        view = {key: entry[key] for key in ("requests", "errors_4xx", "errors_5xx")}
        for percentile in PERCENTILES:
            view[f"p{percentile}_ms"] = _percentile(entry["histogram"], total, percentile)
        result["rest" if kind == "rest" else "websocket"][name] = view
    return result
