"""Batch reads to DynamoDB's limits: 100 keys per ``BatchGetItem``, ``UnprocessedKeys`` asked again
with exponential backoff and full jitter (PynamoDB's ``batch_get`` asks again at once, without
bound, and fails on an answer without the table under ``Responses``). A whole request refused
(throttling) is sent again through ``retrying``; a read is idempotent, so a repeat is harmless."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib import clock
from chalicelib.errors import Unavailable
from chalicelib.models.base import backoff, retrying

BATCH_GET_LIMIT = 100
BATCH_GET_ATTEMPTS = 8


def get_all(model: Any, keys: Sequence[Any], consistent_read: bool = True) -> list[Any]:
    """The items of ``model`` at ``keys`` (hash keys, or (hash, range) pairs) that exist, read
    consistently by default, in no particular order. ``Unavailable`` when DynamoDB still leaves
    keys unprocessed after ``BATCH_GET_ATTEMPTS`` tries."""
    connection = model._get_connection()
    table = model.Meta.table_name
    hash_name = model._hash_key_attribute().attr_name
    range_attribute = model._range_key_attribute()
    wanted = []
    for key in dict.fromkeys(keys):
        hash_key, range_key = model._serialize_keys(*(key if range_attribute else (key,)))
        wanted.append({hash_name: hash_key} | ({range_attribute.attr_name: range_key} if range_attribute else {}))
    found: list[Any] = []
    for start in range(0, len(wanted), BATCH_GET_LIMIT):
        pending = wanted[start:start + BATCH_GET_LIMIT]
        for attempt in range(BATCH_GET_ATTEMPTS):
            answer = retrying(lambda batch=pending: connection.batch_get_item(
                batch, consistent_read=consistent_read)) or {}
            found += [model.from_raw_data(raw) for raw in (answer.get("Responses") or {}).get(table) or []]
            pending = ((answer.get("UnprocessedKeys") or {}).get(table) or {}).get("Keys") or []
            if not pending:
                break
            clock.sleep(backoff(attempt))
        if pending:
            raise Unavailable("the database is busy; try again")
    return found


def get_in_order(model: Any, keys: Sequence[Any]) -> list[Any]:
    """``get_all`` of a hash-key-only ``model``, in the order of ``keys`` (those that exist): what
    an index listed, as stored now."""
    found = {getattr(item, model._hash_keyname): item for item in get_all(model, keys)}
    return [found[key] for key in keys if key in found]


def get_each(wanted: Sequence[tuple[Any, Any]]) -> dict[tuple[Any, Any], Any]:
    """Items of several tables in one ``BatchGetItem`` (read consistently): ``wanted`` holds
    (model, hash key) pairs of hash-key-only tables; the answer maps each pair found to its item.
    For the few items one operation needs from different tables (both parties of a conversation),
    one call instead of one per item; ``UnprocessedKeys`` are asked again as in ``get_all``."""
    from pynamodb.connection.base import BOTOCORE_EXCEPTIONS
    from pynamodb.exceptions import GetError

    pairs = list(dict.fromkeys(wanted))
    if not pairs:
        return {}
    models = {model.Meta.table_name: model for model, _ in pairs}
    pending: dict[str, Any] = {}
    for model, hash_key in pairs:
        attribute = model._hash_key_attribute()
        pending.setdefault(model.Meta.table_name, {"Keys": [], "ConsistentRead": True})["Keys"].append(
            {attribute.attr_name: {attribute.attr_type: attribute.serialize(hash_key)}})
    connection = pairs[0][0]._get_connection().connection

    def send(items: dict[str, Any]) -> dict[str, Any]:
        try:
            return connection.dispatch("BatchGetItem", {"RequestItems": items})
        except BOTOCORE_EXCEPTIONS as e:
            raise GetError(f"Failed to batch get items: {e}", e) from e

    found: dict[tuple[Any, Any], Any] = {}
    for attempt in range(BATCH_GET_ATTEMPTS):
        answer = retrying(lambda items=pending: send(items)) or {}
        for table, raws in (answer.get("Responses") or {}).items():
            model = models[table]
            for raw in raws:
                item = model.from_raw_data(raw)
                found[(model, getattr(item, model._hash_key_attribute().attr_name))] = item
        pending = answer.get("UnprocessedKeys") or {}
        if not pending:
            return found
        clock.sleep(backoff(attempt))
    raise Unavailable("the database is busy; try again")
