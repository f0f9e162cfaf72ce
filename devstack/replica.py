"""What an eventually consistent read sees: a table as its lagging replica and its indexes hold it.

DynamoDB acknowledges a write once two of an item's three replicas have it, and updates its global
secondary indexes asynchronously, item by item. For each table written while the simulation lags,
``LaggingReplicas`` keeps two copies of moto's table beside the present one:

- the lagging replica: each write reaches it at its own ``visible_at``, the moment it was applied
  plus a delay drawn for that write (0..``gsi_lag_ms``), never before an earlier write to the same
  item. So a later write to item B can be visible while an earlier write to item A is not, and
  each item still goes through its own versions in order. Index reads, and the ``stale_read``
  fraction of eventually consistent base-table reads, are answered from it.
- the laggard: the same writes, applied only up to a moment trailing the present by a spike of
  ``lag_spike_ms / 5``..``lag_spike_ms`` (2-10 s by default), drawn per spiked read; it never goes
  back in time, and never trails by more than the longest spike. The ``lag_spike`` fraction of index
  reads is answered from it: the occasional read that is seconds behind.

A read is answered by handing moto a copy in place of the table for that one request (the server
runs one request at a time), so it costs what the same read costs on the present table; a write
costs one copy of each item it changed. Both copies share those images: moto changes items of the
present table in place, never the copies'. ``settle()`` applies everything at once: what waiting
until every index caught up would show, for test oracles.
"""

from __future__ import annotations

import copy
import heapq
import itertools
from collections import defaultdict, deque
from typing import Any

from devstack.moto_speedups import iter_items, replace_item

ItemKey = tuple[Any, Any]  # (hash key, range key or None) as moto's DynamoType values


def _copy_of(table: Any) -> Any:
    """A table with the same schema and indexes, its items copied (no moto validation)."""
    twin = copy.copy(table)
    twin.__dict__.pop("_kefu_partitions", None)
    twin.items = defaultdict(dict)
    for item in iter_items(table):
        replace_item(twin, (item.hash_key, item.range_key), copy.deepcopy(item))
    return twin


def _copy_sharing(table: Any) -> Any:
    """A second copy holding the very same item images as ``table`` (a copy: never mutated)."""
    twin = copy.copy(table)
    twin.__dict__.pop("_kefu_partitions", None)
    twin.items = defaultdict(dict)
    for item in iter_items(table):
        replace_item(twin, (item.hash_key, item.range_key), item)
    return twin


class _TableCopies:
    def __init__(self, table: Any, with_laggard: bool) -> None:
        self.replica = _copy_of(table)
        self.laggard = _copy_sharing(self.replica) if with_laggard else None
        self._pending: list[tuple[float, int, ItemKey, Any]] = []  # heap by visible_at
        self._order = itertools.count()
        self._latest: dict[ItemKey, float] = {}  # visible_at of each item's latest pending write
        self._for_laggard: deque[tuple[float, ItemKey, Any]] = deque()  # in the replica, not yet the laggard
        self._laggard_at = float("-inf")

    def log(self, key: ItemKey, image: Any, visible_at: float) -> None:
        visible_at = max(visible_at, self._latest.get(key, visible_at))
        self._latest[key] = visible_at
        heapq.heappush(self._pending, (visible_at, next(self._order), key, image))

    def advance(self, now: float, longest_spike: float) -> None:
        self._reach(now)
        self.laggard_reaches(now - longest_spike)

    def _reach(self, moment: float) -> None:
        """Apply to the replica every write visible at ``moment``."""
        pending = self._pending
        while pending and pending[0][0] <= moment:
            visible_at, _, key, image = heapq.heappop(pending)
            replace_item(self.replica, key, image)
            if self._latest.get(key, moment) <= moment:  # every write to it is out of the heap now
                self._latest.pop(key, None)
            if self.laggard is not None:
                self._for_laggard.append((visible_at, key, image))

    def laggard_reaches(self, moment: float) -> None:
        if self.laggard is None or moment <= self._laggard_at:
            return
        self._laggard_at = moment
        waiting = self._for_laggard
        while waiting and waiting[0][0] <= moment:
            _, key, image = waiting.popleft()
            replace_item(self.laggard, key, image)

    def settle(self, now: float) -> None:
        """Every write so far visible in both copies; later ones lag from ``now`` on."""
        self._reach(float("inf"))
        while self._for_laggard:
            _, key, image = self._for_laggard.popleft()
            replace_item(self.laggard, key, image)
        self._laggard_at = max(self._laggard_at, now)


class LaggingReplicas:
    """The lagging copies of every table written since the last ``clear``. Not thread-safe: run
    under the server's lock."""

    def __init__(self) -> None:
        self._tables: dict[str, _TableCopies] = {}

    def clear(self) -> None:
        self._tables.clear()

    def forget(self, table_name: str | None) -> None:
        self._tables.pop(table_name or "", None)

    def before_write(self, table_name: str, table: Any, with_laggard: bool) -> None:
        """Copy ``table`` as it stands, before the first write the copies must lag behind."""
        if table is not None and table_name not in self._tables:
            self._tables[table_name] = _TableCopies(table, with_laggard)

    def log(self, table_name: str, key: ItemKey, image: Any, visible_at: float) -> None:
        copies = self._tables.get(table_name)
        if copies is not None:
            copies.log(key, image, visible_at)

    def replica(self, table_name: str, now: float, longest_spike: float) -> Any:
        """The lagging replica as it stands at ``now``, or None when the table never lagged."""
        copies = self._tables.get(table_name)
        if copies is None:
            return None
        copies.advance(now, longest_spike)
        return copies.replica

    def laggard(self, table_name: str, now: float, spike: float, longest_spike: float) -> Any:
        """The copy trailing ``now`` by at least ``spike`` seconds (less only when it already
        trailed less), or None when the table never lagged."""
        copies = self._tables.get(table_name)
        if copies is None or copies.laggard is None:
            return None
        copies.advance(now, longest_spike)
        copies.laggard_reaches(now - spike)
        return copies.laggard

    def advance(self, now: float, longest_spike: float) -> None:
        for copies in self._tables.values():
            copies.advance(now, longest_spike)

    def settle(self, now: float) -> None:
        for copies in self._tables.values():
            copies.settle(now)
