"""What DynamoDB on demand would bill for the calls a benchmark counted: read and write request
units, estimated from the requests and answers botocore saw (``_harness.DynamoCounter`` feeds it).

The rules (AWS's "Read/write capacity mode" and "Capacity for transactions" pages):
- a read is 1 unit per 4 KB read, half of it when eventually consistent; a Query is billed for the
  size of what it read (its scanned items, not only those its filter kept), at least one unit;
- a write is 1 unit per 1 KB of the larger of the item before and after; a write whose condition
  failed is billed too; every global secondary index the item is in costs the same again;
- every action of a transaction is billed twice on its table (prepare and commit; its index
  writes once), a ``ConditionCheck`` as a transactional write (the upper of the two readings of
  AWS's page); a cancelled transaction is billed like one that committed (the conservative reading);
- a throttled request is not billed.

Sizes come from what was sent or answered: a put's item, an update's ``ALL_NEW`` answer (PynamoDB
asks for it), a read's items. For the actions of a transaction (no answer holds the item) and for
deletes, the size is the item's as last seen by any call in the process, 1 KB when never seen. So
the figures are estimates, not a bill, but they follow the items' real sizes.
"""

from __future__ import annotations

import math
from typing import Any

KB = 1024
RCU_BYTES = 4 * KB


def value_bytes(value: dict[str, Any]) -> int:
    """The size DynamoDB counts for one attribute value (DynamoDB JSON)."""
    (kind, inner), = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = inner.lstrip("-").replace(".", "").lstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(inner) if isinstance(inner, bytes | bytearray) else len(str(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(v.encode()) for v in inner)
    if kind == "NS":
        return sum(value_bytes({"N": v}) for v in inner)
    if kind == "BS":
        return sum(len(v) for v in inner)
    if kind == "L":
        return 3 + sum(value_bytes(v) + 1 for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_bytes(v) + 1 for k, v in inner.items())
    return 1


def item_bytes(item: dict[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + value_bytes(value) for name, value in item.items())


def _read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / RCU_BYTES))
    return units if consistent else units / 2


def _write_units(size: int) -> int:
    return max(1, math.ceil(size / KB))


class CapacityEstimator:
    """Read and write request units of the calls shown to it (``observe``), with the item sizes
    and index memberships it has seen."""

    def __init__(self, table_specs: dict[str, dict[str, Any]]) -> None:
        self._keys: dict[str, list[str]] = {}
        self._indexes: dict[str, list[list[str]]] = {}
        for spec in table_specs.values():
            name = spec["TableName"]
            self._keys[name] = [k["AttributeName"] for k in spec["KeySchema"]]
            self._indexes[name] = [[k["AttributeName"] for k in g["KeySchema"]]
                                   for g in spec.get("GlobalSecondaryIndexes", [])]
        self._seen: dict[tuple[str, str], dict[str, Any]] = {}
        self.read_units = 0.0
        self.write_units = 0.0

    def reset(self) -> None:
        self.read_units = 0.0
        self.write_units = 0.0

    # -- what is known of items ------------------------------------------------------------
    def _key_of(self, table: str, item_or_key: dict[str, Any]) -> tuple[str, str] | None:
        names = self._keys.get(table)
        if not names or any(n not in item_or_key for n in names):
            return None
        return table, repr([item_or_key[n] for n in names])

    def _remember(self, table: str, item: dict[str, Any] | None) -> None:
        key = self._key_of(table, item or {})
        if key is not None and item:
            self._seen[key] = item

    def _known(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        found = self._key_of(table, key)
        return self._seen.get(found) if found else None

    def _indexes_of(self, table: str, item: dict[str, Any] | None) -> int:
        if not item:
            return 0
        return sum(1 for keys in self._indexes.get(table, []) if all(k in item for k in keys))

    def _written(self, table: str, before: dict[str, Any] | None, after: dict[str, Any] | None,
                 transactional: bool = False) -> int:
        """Units of one write: the larger image, for the table (twice in a transaction) and once
        per index the item is in (every kefu index projects all attributes)."""
        size = max(item_bytes(before), item_bytes(after)) or KB
        units = _write_units(size)
        indexes = max(self._indexes_of(table, before), self._indexes_of(table, after))
        return units * (2 if transactional else 1) + units * indexes

    # -- one call ----------------------------------------------------------------------------
    def observe(self, operation: str, params: dict[str, Any], parsed: dict[str, Any], status: int | None,
                counting: bool) -> None:
        """Learn item sizes from a call; bill it when ``counting``. A throttled call is not billed."""
        error = (parsed.get("Error") or {}).get("Code", "")
        throttled = "Throughput" in error or "Throttl" in error or error == "RequestLimitExceeded"
        reads, writes = self._units(operation, params, parsed, error)
        if counting and not throttled:
            self.read_units += reads
            self.write_units += writes

    def _units(self, operation: str, params: dict[str, Any], parsed: dict[str, Any],
               error: str) -> tuple[float, float]:
        table = params.get("TableName", "")
        consistent = bool(params.get("ConsistentRead"))
        if operation == "GetItem":
            item = parsed.get("Item")
            self._remember(table, item)
            return _read_units(item_bytes(item), consistent), 0
        if operation in ("Query", "Scan"):
            items = parsed.get("Items") or []
            for item in items:
                self._remember(table, item)
            returned = sum(item_bytes(i) for i in items)
            scanned = int(parsed.get("ScannedCount", len(items)) or 0)
            average = returned / len(items) if items else 256
            size = returned + max(0, scanned - len(items)) * average
            return _read_units(int(size), consistent), 0
        if operation == "BatchGetItem":
            units = 0.0
            for name, found in (parsed.get("Responses") or {}).items():
                asked = params.get("RequestItems", {}).get(name, {})
                for item in found:
                    self._remember(name, item)
                    units += _read_units(item_bytes(item), bool(asked.get("ConsistentRead")))
                missing = len(asked.get("Keys", [])) - len(found)
                units += max(0, missing) * _read_units(0, bool(asked.get("ConsistentRead")))
            return units, 0
        if operation == "PutItem":
            item = params.get("Item")
            before = self._known(table, item or {})
            units = self._written(table, before, item)
            if not error:
                self._remember(table, item)
            return 0, units
        if operation == "UpdateItem":
            after = parsed.get("Attributes")
            before = self._known(table, params.get("Key") or {})
            units = self._written(table, before, after)
            if after and not error:
                self._remember(table, after)
            return 0, units
        if operation == "DeleteItem":
            before = self._known(table, params.get("Key") or {})
            return 0, self._written(table, before, None)
        if operation == "BatchWriteItem":
            units = 0
            for name, requests in (params.get("RequestItems") or {}).items():
                for request in requests:
                    if "PutRequest" in request:
                        item = request["PutRequest"]["Item"]
                        units += self._written(name, self._known(name, item), item)
                        self._remember(name, item)
                    else:
                        units += self._written(name, self._known(name, request["DeleteRequest"]["Key"]), None)
            return 0, units
        if operation == "TransactWriteItems":
            units = 0
            for action in params.get("TransactItems") or []:
                (kind, body), = action.items()
                name = body["TableName"]
                if kind == "Put":
                    units += self._written(name, self._known(name, body["Item"]), body["Item"], transactional=True)
                elif kind == "ConditionCheck":
                    units += 2 * _write_units(item_bytes(self._known(name, body["Key"])) or KB)
                else:
                    known = self._known(name, body["Key"])
                    units += self._written(name, known, None if kind == "Delete" else known, transactional=True)
            return 0, units
        if operation == "TransactGetItems":
            units = 0.0
            for action in params.get("TransactItems") or []:
                body = action["Get"]
                units += 2 * _read_units(item_bytes(self._known(body["TableName"], body["Key"])), True)
            return units, 0
        return 0, 0
