"""``make bench``: every benchmark script in turn, its output shown as it comes (progress: each
script prints its figures as it measures them, and a dot every 10 s of silence), then every figure,
with the machine and the date, written to ``benchmarks/results.md``.

    python benchmarks/_bench.py [script ...]   (default: every benchmarks/[!_]*.py)
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.md"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
        cpu = model
    except (OSError, StopIteration):
        pass
    return f"{platform.node()}: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


def run(script: Path) -> tuple[int, list[str], float]:
    """Run one script, echoing its lines as they come; returns its exit code, figures and seconds."""
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, str(script)], cwd=HERE.parent, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, bufsize=1,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    last = [time.monotonic()]
    done = threading.Event()

    def dots() -> None:
        while not done.wait(10):
            if time.monotonic() - last[0] >= 10:
                print(".", end="", flush=True)

    threading.Thread(target=dots, daemon=True).start()
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        last[0] = time.monotonic()
        if line.startswith('{"level"'):
            continue  # the services' log lines, not figures
        print(f"  {line}", end="", flush=True)
        lines.append(line.rstrip("\n"))
    code = process.wait()
    done.set()
    return code, lines, time.monotonic() - started


def main(argv: list[str]) -> int:
    scripts = [HERE / name for name in argv] or sorted(p for p in HERE.glob("*.py") if not p.name.startswith("_"))
    sections, failed = [], []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        code, lines, seconds = run(script)
        print(f"   ({seconds:.0f} s{'' if code == 0 else f', exit {code}'})", flush=True)
        if code:
            failed.append(script.name)
        body = "\n".join(lines) or "(no output)"
        sections.append(f"## {script.name}\n\n{seconds:.0f} s{'' if code == 0 else f', FAILED (exit {code})'}\n\n"
                        f"```\n{body}\n```\n")
    RESULTS.write_text(f"# Benchmark results\n\n{datetime.now(UTC):%Y-%m-%d %H:%M UTC}, {machine()}\n\n"
                       "Written by `make bench` (benchmarks/_bench.py); each script's docstring says what "
                       "its figures mean and their goals.\n\n" + "\n".join(sections))
    print(f"wrote {RESULTS.relative_to(HERE.parent)}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
