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
