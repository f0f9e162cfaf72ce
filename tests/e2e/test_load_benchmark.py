"""The short version of ``benchmarks/load.py``: the script as a user runs it, starting its own
``make run`` stack on the realistic simulated backend, with a few people instead of hundreds. It
checks what the long run promises besides its figures: every acknowledged message stored once and
delivered once to every open socket of its recipient, no error, every customer assigned."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]

SHORT = {
    "customers": 6, "agents": 2, "capacity": 5, "chat-seconds": 4, "message-interval": 1,
    "burst": 6, "burst-seconds": 2, "assign-customers": 12, "assign-agents": 3,
    "assign-concurrency": 6, "quiet-seconds": 10,
}


def test_the_load_script_loses_and_duplicates_nothing_through_real_sockets(tmp_path: Path) -> None:
    args = [f"--{name}={value}" for name, value in SHORT.items()]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEFU_", "AWS_", "POWERTOOLS_"))}
    run = subprocess.run([sys.executable, "benchmarks/load.py", *args, "--stack-log", str(tmp_path / "stack.log")],
                         cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    figures = dict(line.split(": ", 1) for line in run.stdout.splitlines() if ": " in line)

    assert figures["errors"] == "0", run.stdout + run.stderr[-2000:]
    assert figures["lost"] == "0", run.stderr[-2000:]
    assert figures["duplicated"] == "0", run.stderr[-2000:]
    assert int(figures["messages_sent"]) > SHORT["customers"]  # customers' messages and the answers
    assert figures["burst_assignment_ms_p50"] != "nan"  # the burst's customers were all assigned
    assert "assignments_per_second_12_vs_3" in figures
