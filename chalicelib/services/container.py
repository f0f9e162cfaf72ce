"""What one Lambda container remembers between the requests it serves, and for how long.

A container serves many requests in a row. What it learnt serving one (who a socket belongs to, who
takes part in a session, the rate-limit log it last wrote) saves DynamoDB calls on the next, as
long as it can never make an answer wrong: every entry is bounded in age, and each is either
immutable for its key (a socket's owner) or checked by the write that relies on it (a session's
agent, by the message transaction's condition; a rate-limit log, by its version). An entry found
wrong is dropped by whoever found it. ``forget_all`` empties every cache of the process (tests
start each case from a cold container).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

from chalicelib import clock

K = TypeVar("K")
V = TypeVar("V")

_registry: list[Recent] = []


class Recent(Generic[K, V]):
    """A thread-safe map whose entries are forgotten ``max_age`` seconds after they were put (by
    the clock seam, so tests can age them) and, beyond ``max_entries``, least recently put first."""

    def __init__(self, max_age: float, max_entries: int = 10_000) -> None:
        self.max_age = max_age
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        _registry.append(self)

    def get(self, key: K, max_age: float | None = None) -> V | None:
        """The value put under ``key`` at most ``max_age`` (default: the map's) seconds ago."""
        limit = self.max_age if max_age is None else min(max_age, self.max_age)
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or clock.epoch() - entry[0] >= limit:
            return None
        return entry[1]

    def age(self, key: K) -> float | None:
        """Seconds since ``key`` was put (None when it is not there)."""
        with self._lock:
            entry = self._entries.get(key)
        return None if entry is None else clock.epoch() - entry[0]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (clock.epoch(), value)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def forget(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def forget_all() -> None:
    """Empty every per-container cache (a cold container)."""
    for cache in list(_registry):
        cache.clear()
