"""``make run`` as a new user meets it: the banner names the customer page and the console, both
answer, the stack's own origin may always call its API, and ``python -m chalicelib.manage`` works
on the running stack with no setup."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import requests

from tests.e2e.test_local_stack import PROJECT_DIR, _free_port, _start_devstack, _stop_devstack


def test_make_run_prints_the_pages_and_manage_finds_the_running_stack(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KEFU_", "POWERTOOLS_", "AWS_"))}
    env.update({"KEFU_HTTP_PORT": str(_free_port()), "KEFU_WS_PORT": str(_free_port()),
                "KEFU_WS_MGMT_PORT": str(_free_port()), "KEFU_DATA_DIR": str(data_dir),
                "KEFU_CORS_ORIGINS": "https://shop.example"})
    process, banner = _start_devstack(env, tmp_path / "stack.log")
    try:
        customer = re.search(r"Customer\s+(http://\S+/)", banner)
        console = re.search(r"Console\s+(http://\S+/console/)", banner)
        assert customer and console, banner
        assert 'data-testid="login-submit"' in requests.get(console.group(1), timeout=10).text
        assert "/widget.js" in requests.get(customer.group(1), timeout=10).text
        own_origin = customer.group(1).rstrip("/")
        for origin, allowed in ((own_origin, True), ("https://shop.example", True),
                                ("http://localhost:5173", False)):  # the list given replaces the default
            preflight = requests.options(f"{own_origin}/api/visitors", timeout=10, headers={
                "Origin": origin, "Access-Control-Request-Method": "POST"})
            assert (preflight.headers.get("Access-Control-Allow-Origin") == origin) is allowed, origin

        # The operator command, with nothing but the data dir the stack itself was given.
        manage_env = {**env, "KEFU_NEW_AGENT_PASSWORD": "alice's password"}
        created = subprocess.run(
            [sys.executable, "-m", "chalicelib.manage", "create-agent", "--username", "alice",
             "--display-name", "Alice"], cwd=PROJECT_DIR, env=manage_env, capture_output=True,
            text=True, timeout=60)
        assert created.returncode == 0, created.stderr
        assert "using the local stack" in created.stderr
        login = requests.post(f"{customer.group(1)}api/auth/login", timeout=10,
                              json={"username": "alice", "password": "alice's password"})
        assert login.status_code == 200, login.text
        assert login.json()["agent"]["display_name"] == "Alice"
        assert json.loads((data_dir / "stack.json").read_text())["console_url"] == console.group(1)
    finally:
        _stop_devstack(process, tmp_path / "stack.log")
    assert not (data_dir / "stack.json").exists()
