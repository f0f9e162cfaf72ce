"""Unit tests run the services on moto with no WebSocket gateway: pushes go nowhere.

The e2e stack (session scoped) points ``KEFU_WS_MANAGEMENT_ENDPOINT`` at its gateway for the rest
of the run, and that gateway answers 410 for the made-up sockets of unit tests, which would forget
them; so each unit test pushes to an address where nobody listens, as when run alone."""

from __future__ import annotations

import pytest

from chalicelib.config import reload_config


@pytest.fixture(autouse=True)
def no_gateway(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KEFU_WS_MANAGEMENT_ENDPOINT", "http://127.0.0.1:9")
    reload_config()
    yield
    monkeypatch.undo()
    reload_config()
