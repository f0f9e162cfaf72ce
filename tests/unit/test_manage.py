"""The operator command that creates the first admin in a real account."""

import json

from chalicelib import manage
from chalicelib.services import agents


def test_create_agent_command_makes_an_admin_who_can_log_in(tables, monkeypatch, capsys):
    monkeypatch.setenv("KEFU_NEW_AGENT_PASSWORD", "s3cret-pass")
    assert manage.main(["create-agent", "--username", "boss", "--role", "admin"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["role"] == "admin"
    assert agents.authenticate("boss", "s3cret-pass")["agent"]["agent_id"] == created["agent_id"]


def test_create_agent_command_refuses_a_taken_username(tables, monkeypatch, capsys):
    monkeypatch.setenv("KEFU_NEW_AGENT_PASSWORD", "s3cret-pass")
    assert manage.main(["create-agent", "--username", "boss"]) == 0
    assert manage.main(["create-agent", "--username", "BOSS"]) == 1
    assert "conflict" in capsys.readouterr().err
