"""How fast the local DynamoDB (devstack/moto_backend.py + devstack/sim.py) answers a Query, and
whether the cost follows the partition read or the whole table.

One table with a GSI; the queried partition (base table and index alike) always holds 10 items,
the table around it 10 or 10,000. A Query should cost what its partition holds, as on DynamoDB:
``ratio`` (Queries/s with 10 items in the table over Queries/s with 10,000) near 1 means it does.
Run under the realistic backend (``KEFU_SIM=aws``, the default here: index reads answered from the
lagging replica) and plain moto (``KEFU_SIM=off``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# benchmarks/queue.py would shadow the standard library's ``queue`` (see _harness.py).
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
PARTITION = 10
SIZES = (10, 10_000)
SECONDS = 3.0


def start_backend(mode: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "KEFU_SIM": mode, "KEFU_SIM_SEED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "devstack.moto_backend", "0"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return process, f"http://{process.stdout.readline().strip()}"


def client(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                        aws_secret_access_key="bench",
                        config=Config(retries={"mode": "standard", "total_max_attempts": 8}))


def fill(ddb, table: str, size: int) -> None:
    ddb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"},
                              {"AttributeName": "group", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{"IndexName": "by_group", "KeySchema": [{"AttributeName": "group", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}])
    items = [{"pk": {"S": "hot"}, "sk": {"S": f"{i:05d}"}, "group": {"S": "hot"}} for i in range(PARTITION)]
    items += [{"pk": {"S": f"p{i}"}, "sk": {"S": "x"}, "group": {"S": f"g{i % 500}"}, "body": {"S": "x" * 100}}
              for i in range(size - PARTITION)]
    for start in range(0, len(items), 25):
        pending = {table: [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]}
        while pending:
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    time.sleep(0.5)


def queries_per_second(ddb, table: str, index: str | None) -> float:
    spec = {"TableName": table, "KeyConditionExpression": "#k = :v", "ExpressionAttributeValues": {":v": {"S": "hot"}},
            "ExpressionAttributeNames": {"#k": "group" if index else "pk"}}
    if index:
        spec["IndexName"] = index
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < SECONDS:
        ddb.query(**spec)
        done += 1
    return done / (time.perf_counter() - started)


def main() -> None:
    for mode in (os.environ.get("KEFU_SIM") or "aws", "off"):
        process, endpoint = start_backend(mode)
        try:
            ddb = client(endpoint)
            rates = {}
            for size in SIZES:
                table = f"bench-{uuid.uuid4().hex[:8]}"
                fill(ddb, table, size)
                rates[size] = {kind: queries_per_second(ddb, table, index)
                               for kind, index in (("base", None), ("index", "by_group"))}
            for kind in ("base", "index"):
                small, large = rates[SIZES[0]][kind], rates[SIZES[-1]][kind]
                for size, rate in ((SIZES[0], small), (SIZES[-1], large)):
                    print(f"sim_{mode}_{kind}_query_items_per_s_table_{size}: {rate * PARTITION:.0f}")
                print(f"sim_{mode}_{kind}_query_ratio_{SIZES[0]}_over_{SIZES[-1]}: {small / large:.2f}")
        finally:
            process.terminate()
            process.wait()


if __name__ == "__main__":
    main()
