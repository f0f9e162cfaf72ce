"""Health and facts about the running system."""

from __future__ import annotations

import platform
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from chalicelib import __version__, clock, runtime
from chalicelib.config import get_config
from chalicelib.models import ALL_MODELS


def _check_table(model: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        status = model.describe_table().get("TableStatus", "UNKNOWN")
        ok = status == "ACTIVE"
        detail = status
    except (PynamoDBException, BotoCoreError, ClientError) as e:
        ok, detail = False, type(e).__name__
    return {
        "name": f"table:{model.Meta.config_key}",
        "table": model.Meta.table_name,
        "ok": ok,
        "status": detail,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }


def health() -> dict[str, Any]:
    """Every table reachable and ACTIVE, with how long each check took."""
    with ThreadPoolExecutor(max_workers=len(ALL_MODELS)) as pool:
        checks = list(pool.map(_check_table, ALL_MODELS))
    healthy = all(c["ok"] for c in checks)
    return {"status": "ok" if healthy else "degraded", "checked_at": clock.iso(), "checks": checks}


def info() -> dict[str, Any]:
    config = get_config()
    cold = runtime.cold_start_seconds()
    return {
        "app": config.app_name,
        "version": __version__,
        "stage": config.stage,
        "region": config.region,
        "python_version": platform.python_version(),
        "tables": dict(config.table_names),
        "container_started_at": clock.iso_from_epoch(runtime.CONTAINER_STARTED_AT),
        "cold_start_ms": round(cold * 1000, 2) if cold is not None else None,
        "websocket_url": config.websocket_url,
        "management_endpoint": config.ws_management_endpoint,
    }
