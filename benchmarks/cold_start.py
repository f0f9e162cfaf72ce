"""Cold start: how long ``import app`` takes in a fresh interpreter, against the floor every
Chalice + DynamoDB Lambda pays (import chalice and botocore, create a DynamoDB client).

Both are measured in fresh subprocesses, alternating, several times in one run; the medians are
compared as a ratio (target: at most 1.5). Prints ``name: value`` lines, the ratio last.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("KEFU_BENCH_RUNS", "9"))

FLOOR = """
import time
t = time.perf_counter()
import chalice
import botocore.session
botocore.session.get_session().create_client("dynamodb", region_name="us-east-1")
print(time.perf_counter() - t)
"""

APP = """
import time
t = time.perf_counter()
import app
print(time.perf_counter() - t)
"""


def measure(code: str) -> float:
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "KEFU_STAGE": "bench",
        "PYTHONDONTWRITEBYTECODE": "0",
    }
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    measure(APP)  # warm the bytecode cache so both sides start equal
    floor, app = [], []
    for _ in range(RUNS):
        floor.append(measure(FLOOR))
        app.append(measure(APP))
    floor_ms = statistics.median(floor) * 1000
    app_ms = statistics.median(app) * 1000
    print(f"runs: {RUNS}")
    print(f"floor_import_ms: {floor_ms:.1f}")
    print(f"app_import_ms: {app_ms:.1f}")
    samples = {"floor_ms": [round(x * 1000, 1) for x in floor], "app_ms": [round(x * 1000, 1) for x in app]}
    print(f"samples: {json.dumps(samples)}")
    print(f"ratio: {app_ms / floor_ms:.2f}")


if __name__ == "__main__":
    main()
