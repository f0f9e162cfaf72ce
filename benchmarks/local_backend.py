"""How fast the local DynamoDB (devstack/moto_backend.py + devstack/sim.py) answers.

- Query: one table with a GSI; the queried partition (base table and index alike) always holds 10
  items, the table around it 10 or 10,000. A Query should cost what its partition holds, as on
  DynamoDB: the ratios (Queries/s with 10 items in the table over Queries/s with 10,000; server
  CPU per Query with 10,000 over with 10) near 1 mean it does. Measured once the filling's writes
  are settled (the simulator would otherwise apply them to its lagging copies during the next
  seconds, a cost of the writes) and after a warm-up (the first Query of a table or a lagging copy
  builds its partition index once). Under ``aws`` the Queries/s also carry the client's backoff
  after the 1% of calls the simulator throttles (hundreds of ms each): read the CPU ratio.
- server CPU per request (Linux: read from /proc), by kind of request, on the 10,000-item table:
  what the embedded backend itself spends, whatever the client and the machine's load.

Run under the realistic backend (``KEFU_SIM=aws``, the default here: index reads answered from the
lagging replica) and plain moto (``KEFU_SIM=off``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# benchmarks/queue.py would shadow the standard library's ``queue`` (see _harness.py).
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
PARTITION = 10
SIZES = (10, 10_000)
QUERIES = 300
WARM_UP = 100
REQUESTS = 300


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
    settle(ddb.meta.endpoint_url)


def settle(endpoint: str) -> None:
    """Every write of the filling visible in the lagging copies at once (the simulator's settle;
    nothing to do when off), so that what a Query is measured to cost is the Query's own: the
    lagging copies otherwise apply the filling's writes during the next 10 s, a cost of those writes
    that reads made then would carry (3 of them per 10,000-item table)."""
    try:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/_kefu/sim/settle", data=b"", method="POST"),
                               timeout=10).close()
    except (OSError, ValueError):
        time.sleep(0.5)  # no simulator: nothing held back


def query_costs(process: subprocess.Popen, ddb, table: str, index: str | None) -> tuple[float, float | None]:
    """(Queries per second as the client sees them, server CPU ms per Query) over ``QUERIES``,
    after ``WARM_UP`` Queries not counted: the first Query of a table (and of each lagging copy) builds its
    partition index, once, in time linear in the table (devstack/moto_speedups.py); every later
    write keeps it up to date item by item."""
    spec = {"TableName": table, "KeyConditionExpression": "#k = :v", "ExpressionAttributeValues": {":v": {"S": "hot"}},
            "ExpressionAttributeNames": {"#k": "group" if index else "pk"}}
    if index:
        spec["IndexName"] = index
    for _ in range(WARM_UP):  # the replica answers index reads, and the laggard 3% of them: each
        ddb.query(**spec)      # builds its own once (95% of the time within these)
    cpu_before, started = server_cpu_seconds(process), time.perf_counter()
    for _ in range(QUERIES):
        ddb.query(**spec)
    elapsed, cpu_after = time.perf_counter() - started, server_cpu_seconds(process)
    cpu_ms = None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) * 1000 / QUERIES
    return QUERIES / elapsed, cpu_ms


def server_cpu_seconds(process: subprocess.Popen) -> float | None:
    try:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_ms_per_request(process: subprocess.Popen, ddb, table: str) -> dict[str, float]:
    """Server CPU per request for each kind of request the app makes most."""
    def put(i: int) -> None:
        ddb.put_item(TableName=table, Item={"pk": {"S": f"w{i}"}, "sk": {"S": "x"}, "group": {"S": "w"}})

    def update(i: int) -> None:
        ddb.update_item(TableName=table, Key={"pk": {"S": f"w{i}"}, "sk": {"S": "x"}},
                        UpdateExpression="SET n = if_not_exists(n, :zero) + :one", ConditionExpression="#g = :w",
                        ExpressionAttributeNames={"#g": "group"},
                        ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"}, ":w": {"S": "w"}})

    def get(i: int) -> None:
        ddb.get_item(TableName=table, Key={"pk": {"S": f"w{i}"}, "sk": {"S": "x"}})

    def index_query(i: int) -> None:
        ddb.query(TableName=table, IndexName="by_group", KeyConditionExpression="#g = :g",
                  ExpressionAttributeNames={"#g": "group"}, ExpressionAttributeValues={":g": {"S": "hot"}})

    def transaction(i: int) -> None:
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": {"pk": {"S": f"w{i}"}, "sk": {"S": "x"}},
                        "UpdateExpression": "SET t = :t", "ExpressionAttributeValues": {":t": {"N": str(i)}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": f"t{i}"}, "sk": {"S": "x"}}}}])

    costs = {}
    for name, call in (("put", put), ("update", update), ("get", get), ("index_query", index_query),
                       ("transaction", transaction)):
        before = server_cpu_seconds(process)
        for i in range(REQUESTS):
            try:
                call(i)
            except ddb.exceptions.ClientError:
                pass  # a simulated fault the client gave up on: it was served all the same
        after = server_cpu_seconds(process)
        if before is not None and after is not None:
            costs[name] = (after - before) * 1000 / REQUESTS
    return costs


def client_cpu_ratio_unsigned_over_signed(endpoint: str, table: str) -> tuple[float, float]:
    """Client CPU per GetItem signed (SigV4) and unsigned (as the stack sends to its own backend,
    devstack/unsigned.py), in alternating rounds so that the machine's load weighs on both alike."""
    import boto3
    import botocore
    from botocore.config import Config

    def made(**config: Any) -> Any:
        return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                            aws_secret_access_key="bench", config=Config(parameter_validation=False, **config))

    clients = {"signed": made(), "unsigned": made(signature_version=botocore.UNSIGNED)}
    spent = dict.fromkeys(clients, 0.0)
    for _ in range(5):
        for name, ddb in clients.items():
            started = time.process_time()
            for _ in range(REQUESTS // 5):
                ddb.get_item(TableName=table, Key={"pk": {"S": "hot"}, "sk": {"S": "00001"}})
            spent[name] += time.process_time() - started
    return spent["signed"] * 1000 / REQUESTS, spent["unsigned"] * 1000 / REQUESTS


def main() -> None:
    for mode in (os.environ.get("KEFU_SIM") or "aws", "off"):
        process, endpoint = start_backend(mode)
        try:
            ddb = client(endpoint)
            costs = {}
            for size in SIZES:
                table = f"bench-{uuid.uuid4().hex[:8]}"
                fill(ddb, table, size)
                costs[size] = {kind: query_costs(process, ddb, table, index)
                               for kind, index in (("base", None), ("index", "by_group"))}
            for kind in ("base", "index"):
                for size in SIZES:
                    rate, cpu_ms = costs[size][kind]
                    print(f"sim_{mode}_{kind}_query_items_per_s_table_{size}: {rate * PARTITION:.0f}")
                    if cpu_ms is not None:
                        print(f"sim_{mode}_{kind}_query_server_cpu_ms_table_{size}: {cpu_ms:.2f}")
                small, large = costs[SIZES[0]][kind], costs[SIZES[-1]][kind]
                print(f"sim_{mode}_{kind}_query_rate_ratio_{SIZES[0]}_over_{SIZES[-1]}: {small[0] / large[0]:.2f}")
                if small[1] and large[1]:
                    print(f"sim_{mode}_{kind}_query_cpu_ratio_{SIZES[-1]}_over_{SIZES[0]}: {large[1] / small[1]:.2f}")
            for name, cost in cpu_ms_per_request(process, ddb, table).items():
                print(f"sim_{mode}_server_cpu_ms_per_{name}: {cost:.2f}")
            if mode == "off":
                signed, unsigned = client_cpu_ratio_unsigned_over_signed(endpoint, table)
                print(f"client_cpu_ms_per_get_signed: {signed:.2f}")
                print(f"client_cpu_ms_per_get_unsigned: {unsigned:.2f}")
                print(f"client_cpu_ratio_unsigned_over_signed: {unsigned / signed:.2f}")
        finally:
            process.terminate()
            process.wait()


if __name__ == "__main__":
    main()
