"""Batch writes to DynamoDB's limits: 25 items per ``BatchWriteItem``, ``UnprocessedItems`` sent
again with exponential backoff and full jitter (PynamoDB's ``batch_write`` retries without any
delay). A whole request refused (a transaction conflict, throttling) is sent again through
``retrying``; puts are idempotent, so a repeat is harmless. Not atomic: each item is written once,
in no particular order."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

from chalicelib.errors import Unavailable
from chalicelib.models.base import retrying

BATCH_WRITE_LIMIT = 25


def put_all(model: Any, items: Sequence[Any], attempts: int = 8, base_delay: float = 0.05,
            max_delay: float = 2.0) -> int:
    """Put every item of ``model``'s table; returns how many ``BatchWriteItem`` calls it took.
    ``Unavailable`` when DynamoDB still leaves items unprocessed after ``attempts`` tries."""
    connection = model._get_connection()
    table = model.Meta.table_name
    calls = 0
    for start in range(0, len(items), BATCH_WRITE_LIMIT):
        pending = [item.serialize() for item in items[start:start + BATCH_WRITE_LIMIT]]
        for attempt in range(attempts):
            calls += 1
            answer = retrying(lambda batch=pending: connection.batch_write_item(put_items=batch)) or {}
            unprocessed = (answer.get("UnprocessedItems") or {}).get(table) or []
            pending = [request["PutRequest"]["Item"] for request in unprocessed]
            if not pending:
                break
            time.sleep(random.uniform(0, min(max_delay, base_delay * 2 ** attempt)))
        if pending:
            raise Unavailable("the database is busy; try again")
    return calls
