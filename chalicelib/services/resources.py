"""What this container and the tables cost right now: memory, time left, cold or warm, uptime,
and each table's item count and size as DynamoDB reports them."""

from __future__ import annotations

import os
import resource
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from chalicelib import clock, push, runtime
from chalicelib.models import ALL_MODELS


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def _table(model: Any) -> dict[str, Any]:
    try:
        described = model.describe_table()
    except (PynamoDBException, BotoCoreError, ClientError) as e:
        return {"table": model.Meta.table_name, "error": type(e).__name__}
    # DynamoDB refreshes ItemCount and TableSizeBytes about every six hours.
    return {"table": model.Meta.table_name, "item_count": described.get("ItemCount"),
            "size_bytes": described.get("TableSizeBytes"), "status": described.get("TableStatus")}


def container(lambda_context: Any | None) -> dict[str, Any]:
    """This container's facts; ``remaining_ms`` and the memory limit are null without a Lambda
    context (or its environment)."""
    limit = getattr(lambda_context, "memory_limit_in_mb", None) \
        or os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    remaining = getattr(lambda_context, "get_remaining_time_in_millis", None)
    cold = runtime.cold_start_seconds()
    return {
        "memory_limit_mb": int(limit) if limit else None,
        "peak_rss_mb": _peak_rss_mb(),
        "remaining_ms": int(remaining()) if callable(remaining) else None,
        "cold_start": runtime.invocations() <= 1,
        "cold_start_ms": round(cold * 1000, 2) if cold is not None else None,
        "invocations": runtime.invocations(),
        "started_at": clock.iso_from_epoch(runtime.CONTAINER_STARTED_AT),
        "uptime_seconds": round(clock.epoch() - runtime.CONTAINER_STARTED_AT, 3),
    }


def report(lambda_context: Any | None) -> dict[str, Any]:
    """``GET /api/metrics/resources``: the container, the tables, the @connections endpoint."""
    with ThreadPoolExecutor(max_workers=len(ALL_MODELS)) as pool:
        tables = dict(zip((m.Meta.config_key for m in ALL_MODELS), pool.map(_table, ALL_MODELS),
                          strict=True))
    return {"container": container(lambda_context), "tables": tables,
            "management_endpoint": push.management_endpoint()}
