"""DynamoDB's Time to Live: expired items deleted in the background, some time after they expire.

moto stores a table's TimeToLive specification and never acts on it. On DynamoDB an item whose TTL
attribute (epoch seconds, a Number) is in the past is deleted by a background process, typically
within days; until then reads, queries and indexes still return it. ``TtlDeleter`` gives every
item written with a TTL a deletion moment drawn between its expiry and ``ttl_delay_s`` later, and
has it deleted then if it still carries that expiry (a later write moved or removed it otherwise).
The caller deletes it through moto's table and lets the indexes and replicas learn of it late, as
they learn of every write.
"""

from __future__ import annotations

import heapq
import itertools
import random
from typing import Any

from devstack.moto_speedups import iter_items

ItemKey = tuple[Any, Any]


def ttl_attribute(table: Any) -> str | None:
    spec = getattr(table, "ttl", None) or {}
    return spec.get("AttributeName") if spec.get("TimeToLiveStatus") == "ENABLED" else None


def expiry_of(item: Any, attribute: str) -> float | None:
    """The item's expiry, or None: DynamoDB ignores a TTL attribute that is not a Number."""
    value = item.attrs.get(attribute) if item is not None else None
    if value is None or value.type != "N":
        return None
    try:
        return float(value.value)
    except ValueError:
        return None


class TtlDeleter:
    """Which items expire when, and when the background deleter removes them. Not thread-safe."""

    def __init__(self, delay_s: float, rng: random.Random) -> None:
        self._delay_s = delay_s
        self._random = rng
        self._due: list[tuple[float, int, str, ItemKey, float]] = []  # heap by deletion moment
        self._order = itertools.count()
        self._scheduled: dict[tuple[str, ItemKey], float] = {}  # the expiry each item's entry is for

    @property
    def enabled(self) -> bool:
        return self._delay_s != float("inf")

    def watch_all(self, tables: dict[str, Any]) -> None:
        """Schedule every item already stored with a TTL (at start, or when TTL is turned on)."""
        for name, table in tables.items():
            self.watch_table(name, table)

    def watch_table(self, name: str, table: Any) -> None:
        attribute = ttl_attribute(table)
        if not self.enabled or attribute is None:
            return
        for item in iter_items(table):
            self.watch(name, (item.hash_key, item.range_key), expiry_of(item, attribute))

    def watch(self, table_name: str, key: ItemKey, expiry: float | None) -> None:
        """An item was written: schedule its deletion if it carries an expiry."""
        if not self.enabled:
            return
        if expiry is None:
            self._scheduled.pop((table_name, key), None)
            return
        if self._scheduled.get((table_name, key)) == expiry:
            return
        self._scheduled[(table_name, key)] = expiry
        moment = expiry + self._random.uniform(0.0, self._delay_s)
        heapq.heappush(self._due, (moment, next(self._order), table_name, key, expiry))
        if len(self._due) > 2 * len(self._scheduled) + 1024:  # entries of items written again
            self._due = [entry for entry in self._due if self._scheduled.get((entry[2], entry[3])) == entry[4]]
            heapq.heapify(self._due)

    def forget_table(self, table_name: str | None) -> None:
        self._scheduled = {k: v for k, v in self._scheduled.items() if k[0] != table_name}

    def due(self, now: float, tables: dict[str, Any]) -> list[tuple[str, Any, ItemKey]]:
        """(table name, table, key) of every item whose moment came and that still expires as
        scheduled: the caller deletes them."""
        deleted = []
        while self._due and self._due[0][0] <= now:
            _, _, name, key, expiry = heapq.heappop(self._due)
            if self._scheduled.get((name, key)) != expiry:
                continue  # written again since: its newer entry decides
            del self._scheduled[(name, key)]
            table = tables.get(name)
            attribute = None if table is None else ttl_attribute(table)
            if attribute is None:
                continue
            item = table.get_item(*key)
            if item is None or expiry_of(item, attribute) != expiry or expiry > now:
                continue
            deleted.append((name, table, key))
        return deleted
