"""What measuring performance adds per request: DynamoDB calls and write units on the metrics
table, counted from botocore's own events (``DynamoCounter``), for REST requests through the
Chalice test client in one container.

Two shapes of traffic: a burst (many requests within a second: counts merge in the container's
buffer, one write per route-minute per flush) and sparse traffic (a request every 1.1 s: every
request flushes, the worst case). A write unit is 1 KB: the item size is computed from the stored
metric items. Prints ``name: value`` lines; the headline, last, is the worst case measured.
"""

from __future__ import annotations

import math
import time

from _harness import DynamoCounter, create_tables, start_backend

BURST = 200
SPARSE = 4


def item_bytes(item: dict) -> int:
    """DynamoDB's item size: attribute names plus values (numbers about 1 byte per 2 digits + 1)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        if "S" in value:
            size += len(value["S"].encode())
        elif "N" in value:
            size += len(value["N"].lstrip("-").replace(".", "")) // 2 + 2
    return size


def main() -> None:
    start_backend()
    create_tables()
    import boto3
    from chalice.test import Client

    from app import app
    from chalicelib.models import MetricModel
    from chalicelib.services import agents, performance

    agents.create_agent("bench-admin", "bench password", "Bench", "admin", None)
    counter = DynamoCounter()
    with Client(app) as client:
        login = client.http.post("/api/auth/login", headers={"Content-Type": "application/json"},
                                 body='{"username": "bench-admin", "password": "bench password"}')
        token = login.json_body["token"]
        headers = {"Authorization": f"Bearer {token}"}
        performance.flush()
        paths = ["/api/agents", "/api/system/info", "/api/sessions"]

        with counter:
            for n in range(BURST):
                client.http.get(paths[n % len(paths)], headers=headers)
            performance.flush()
        burst_writes = counter.by_table["metrics"]  # every call on the metrics table: UpdateItems
        burst_calls = counter.total_calls

        with counter:
            for _ in range(SPARSE):
                time.sleep(performance.FLUSH_INTERVAL_SECONDS + 0.1)
                client.http.get("/api/agents", headers=headers)
        sparse_writes = counter.by_table["metrics"]

    dynamodb = boto3.client("dynamodb")
    items = [item for page in dynamodb.get_paginator("scan").paginate(TableName=MetricModel.Meta.table_name)
             for item in page["Items"]]
    largest = max(item_bytes(item) for item in items)
    units = math.ceil(largest / 1024)
    print(f"burst_requests: {BURST}")
    print(f"burst_dynamodb_calls_per_request_all_tables: {burst_calls / BURST:.2f}")
    print(f"burst_metric_calls: {burst_writes}")
    print(f"burst_writes_per_request: {burst_writes / BURST:.3f}")
    print(f"sparse_requests: {SPARSE}")
    print(f"sparse_metric_calls: {sparse_writes}")
    print(f"largest_metric_item_bytes: {largest}")
    print(f"write_units_per_write: {units}")
    print(f"writes_per_request: {max(burst_writes / BURST, sparse_writes / SPARSE) * units:.3f}")


if __name__ == "__main__":
    main()
