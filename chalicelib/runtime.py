"""Facts about this container: when it started and how long the cold start (import) took."""

from __future__ import annotations

import time

CONTAINER_STARTED_AT = time.time()
_import_started = time.perf_counter()
_ready_after: float | None = None


def mark_ready() -> None:
    """Called by app.py once wiring is done; the elapsed time is this container's cold start."""
    global _ready_after
    if _ready_after is None:
        _ready_after = time.perf_counter() - _import_started


def cold_start_seconds() -> float | None:
    return _ready_after


_invocations = 0


def count_invocation() -> None:
    """Called once per REST request (by the HTTP middleware): the first one was a cold start."""
    global _invocations
    _invocations += 1


def invocations() -> int:
    return _invocations
