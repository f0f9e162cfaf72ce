"""The embedded DynamoDB of ``make run`` in a process of its own.

In the stack's process, moto and the app shared one interpreter lock: while moto applied a request
no handler thread ran, and the two never used a second core. Now moto (with the simulator and the
journal, ``devstack.dynamodb.EmbeddedMoto``) runs in ``python -m devstack.moto_backend --data-dir
...`` and the stack drives its journal over HTTP (``/_kefu/journal/restore`` and ``/checkpoint``),
as tests already run the backend beside them.

The child leaves with its parent: it exits when its stdin closes, which the kernel does when the
parent dies, ``kill -9`` included (nothing acknowledged is lost: every answer waited for its
fsync). It ignores Ctrl-C, which the terminal sends the whole process group, so the stack can still
close its sockets and take its last checkpoint; then the stack closes the child's stdin. A new
start on the same data dir waits until a dying child let go of it (``EmbeddedMoto``'s lock).
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from devstack import environment
from devstack.dynamodb import SNAPSHOT_FILE, Restored
from devstack.sim_config import SimConfig

START_SECONDS = 60.0
CONTROL_SECONDS = 600.0  # a restore replays the whole journal
STOP_SECONDS = 30.0


class MotoProcess:
    """``EmbeddedMoto`` in a child process: ``start`` returns its endpoint; ``restore`` and
    ``checkpoint`` (with a data dir) work on ``{data_dir}/snapshot.json``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, data_dir: Path | None = None,
                 region: str = "us-east-1", sim_default: str = "aws", outbox: Path | None = None) -> None:
        self.host = host
        self.port = port
        self.data_dir = data_dir
        self.region = region
        self.sim_default = sim_default
        self.outbox = outbox  # every mail sent through SES, one JSON line each
        self.sim = SimConfig()
        self.endpoint = ""
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def is_journaled(self) -> bool:
        return self.data_dir is not None

    def start(self) -> str:
        command = [sys.executable, "-m", "devstack.moto_backend", str(self.port), "--host", self.host,
                   "--sim-default", self.sim_default, "--region", self.region, "--exit-with-parent"]
        if self.data_dir is not None:
            command += ["--data-dir", str(self.data_dir)]
        if self.outbox is not None:
            command += ["--outbox", str(self.outbox)]
        # Its own session: a terminal's Ctrl-C or SIGHUP reaches the stack, which stops it in turn.
        self._process = subprocess.Popen(command, cwd=environment.PROJECT_DIR, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, start_new_session=True)
        assert self._process.stdout is not None
        address = self._process.stdout.readline().decode().strip()
        if not address:
            self.stop()
            raise RuntimeError("the embedded DynamoDB did not start")
        self.endpoint = f"http://{address}"
        with urllib.request.urlopen(f"{self.endpoint}/_kefu/sim", timeout=START_SECONDS) as answer:
            self.sim = SimConfig(**json.loads(answer.read()))
        return self.endpoint

    def stop(self) -> None:
        """Let go of the child (it stops serving, flushes the journal and exits); kill it if it
        does not within ``STOP_SECONDS``."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def restore(self, table_names: dict[str, str], path: Path) -> Restored:
        """See ``EmbeddedMoto.restore``; ``path`` must be the data dir's snapshot."""
        answer = self._control("restore", table_names, path)
        return Restored(int(answer["items"]), int(answer["replayed"]))

    def checkpoint(self, table_names: dict[str, str], path: Path) -> int:
        """See ``EmbeddedMoto.checkpoint``; returns how many items were saved."""
        return int(self._control("checkpoint", table_names, path)["saved"])

    def _control(self, action: str, table_names: dict[str, str], path: Path) -> dict[str, Any]:
        if self.data_dir is None or Path(path) != self.data_dir / SNAPSHOT_FILE:
            raise ValueError(f"the embedded DynamoDB keeps its snapshot at {self.data_dir}/{SNAPSHOT_FILE}")
        request = urllib.request.Request(f"{self.endpoint}/_kefu/journal/{action}", method="POST",
                                         data=json.dumps({"tables": table_names}).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=CONTROL_SECONDS) as answer:
                return dict(json.loads(answer.read()))
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"journal {action} failed: {e.read().decode(errors='replace')}") from e
