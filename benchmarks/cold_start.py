"""Cold start to the first answer: a fresh interpreter imports the app, then serves its first
WebSocket frame (a ``ping`` from a registered socket, through the deployed ``app.ws_message``:
the first DynamoDB calls and the reply's ``@connections`` post included), against the floor every
Chalice + DynamoDB Lambda pays: importing chalice and botocore, creating a DynamoDB client and
making its first call (a GetItem).

Both import from bytecode, as a deployed function does (the zip ships each module's ``.pyc``:
``infra/package.py``). Both are measured in fresh subprocesses, alternating, several times in one
run, against the same embedded DynamoDB (plain moto here: a simulated fault's retry would time the
simulator, not the start); the medians are compared. Prints the parts (import, first frame, first DynamoDB call) and,
last, ``ratio`` (app / floor, target at most 1.5).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

os.environ.setdefault("KEFU_SIM", "off")

from _harness import ROOT, create_tables, start_backend  # noqa: E402

RUNS = int(os.environ.get("KEFU_BENCH_RUNS", "9"))

FLOOR = """
import json, os, time
t0 = time.perf_counter()
import chalice
import botocore.session
client = botocore.session.get_session().create_client(
    "dynamodb", region_name="us-east-1", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
t1 = time.perf_counter()
client.get_item(TableName=os.environ["KEFU_TABLE_PREFIX"] + "-connections",
                Key={"connection_id": {"S": "coldconn="}}, ConsistentRead=True)
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "first_call": t2 - t1, "total": t2 - t0}))
"""

APP = """
import json, time
t0 = time.perf_counter()
import app
t1 = time.perf_counter()
from botocore.hooks import HierarchicalEmitter
first = []
original = HierarchicalEmitter.emit
def emit(self, event_name, **kwargs):
    if not first and event_name.startswith("after-call.dynamodb"):
        first.append(time.perf_counter())
    return original(self, event_name, **kwargs)
HierarchicalEmitter.emit = emit
from devstack.lambda_runtime import LambdaContext
event = {"requestContext": {"routeKey": "$default", "eventType": "MESSAGE", "stage": "api",
                            "connectionId": "coldconn=", "domainName": "127.0.0.1", "apiId": "cold",
                            "requestId": "cold", "identity": {"sourceIp": "127.0.0.1"}},
         "body": json.dumps({"action": "ping"}), "isBase64Encoded": False}
answer = app.ws_message(event, LambdaContext("kefu-bench-ws_message"))
t2 = time.perf_counter()
assert answer.get("statusCode") == 200, answer
print(json.dumps({"import": t1 - t0, "first_frame": t2 - t1, "first_call": (first or [t2])[0] - t1,
                  "total": t2 - t0}))
"""


def seed() -> None:
    """An agent with one registered socket, as ``$connect`` leaves them."""
    from chalicelib.services import agents, connections
    from chalicelib.services.tokens import Principal
    from chalicelib.ws import actions

    agent = agents.create_agent("cold-start", "password123", "Cold Start")
    principal = Principal(agent.agent_id, "agent", "agent", "Cold Start")
    connections.register("coldconn=", principal, "127.0.0.1", "bench")
    actions.on_registered(principal, "coldconn=")


def measure(code: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": ""}  # any non-empty value, "0" too, stops the writing
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_ms(samples: list[dict[str, float]], key: str) -> float:
    return statistics.median(s[key] for s in samples) * 1000


def main() -> None:
    start_backend()
    create_tables()
    seed()
    measure(APP)  # warm the bytecode cache so both sides start equal
    floor, app = [], []
    for _ in range(RUNS):
        floor.append(measure(FLOOR))
        app.append(measure(APP))
    print(f"runs: {RUNS}")
    print(f"floor_import_ms: {median_ms(floor, 'import'):.1f}")
    print(f"floor_first_call_ms: {median_ms(floor, 'first_call'):.1f}")
    print(f"floor_total_ms: {median_ms(floor, 'total'):.1f}")
    print(f"app_import_ms: {median_ms(app, 'import'):.1f}")
    print(f"app_first_dynamodb_call_ms: {median_ms(app, 'first_call'):.1f}")
    print(f"app_first_frame_ms: {median_ms(app, 'first_frame'):.1f}")
    print(f"app_total_ms: {median_ms(app, 'total'):.1f}")
    print(f"import_ratio: {median_ms(app, 'import') / median_ms(floor, 'import'):.2f}")
    print(f"ratio: {median_ms(app, 'total') / median_ms(floor, 'total'):.2f}")


if __name__ == "__main__":
    main()
