"""When bounded work must stop: the sweep's deadline, passed down to every loop it runs (the
agent walk, hand-backs, dispatch, announcements, tickets given back), so one item can never carry
the sweep past its Lambda's timeout by more than one bounded step."""

from __future__ import annotations

import time
from collections.abc import Callable

RESERVE_SECONDS = 3.0


class Deadline:
    """When to stop: ``remaining_ms`` (a Lambda context's ``get_remaining_time_in_millis``) or a
    budget in seconds, minus a reserve for the answer; neither: never."""

    def __init__(self, remaining_ms: Callable[[], int] | None = None, budget_seconds: float | None = None) -> None:
        self._remaining_ms = remaining_ms
        self._until = time.monotonic() + budget_seconds if budget_seconds is not None else None

    def passed(self) -> bool:
        if self._remaining_ms is not None and self._remaining_ms() / 1000 < RESERVE_SECONDS:
            return True
        return self._until is not None and time.monotonic() >= self._until


UNBOUNDED = Deadline()
