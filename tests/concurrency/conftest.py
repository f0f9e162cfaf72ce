"""Concurrency tests race on the realistic backend: index lag and transaction conflicts as on AWS."""

import pytest


@pytest.fixture
def sim_default() -> str:
    return "aws"


@pytest.fixture(autouse=True)
def assigners_race(monkeypatch):
    """This process's assigners race as Lambda containers' do, even after a local stack started in
    it (its environment has them take turns: ``KEFU_ASSIGNERS_SHARE_PROCESS``); a test asks for
    turns with ``assigners_share_process``."""
    from chalicelib.config import reload_config

    monkeypatch.setenv("KEFU_ASSIGNERS_SHARE_PROCESS", "0")
    reload_config()
    yield
    monkeypatch.undo()
    reload_config()


@pytest.fixture
def assigners_share_process(assigners_race, monkeypatch):
    """The local stack's setting: this process's assigners take turns per agent."""
    from chalicelib.config import reload_config

    monkeypatch.setenv("KEFU_ASSIGNERS_SHARE_PROCESS", "1")
    reload_config()
