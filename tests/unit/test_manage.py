"""The operator command that creates the first admin in a real account."""

import json
import os

import pytest

from chalicelib import manage
from chalicelib.config import reload_config
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


# --- the target is always named --------------------------------------------------------------------


@pytest.fixture
def no_stage(monkeypatch, tmp_path):
    """AWS credentials in the environment, but no stage named and no local stack running (its
    data directory holds no stack.json)."""
    monkeypatch.delenv("KEFU_STAGE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KEFU_NEW_AGENT_PASSWORD", "s3cret-pass")
    yield tmp_path
    monkeypatch.undo()  # before reading config again: the suite's endpoint and stage come back
    reload_config()


def test_without_a_stage_the_command_refuses_and_writes_nothing(tables, no_stage, capsys):
    assert manage.main(["create-agent", "--username", "boss", "--role", "admin"]) == 2

    assert "--stage" in capsys.readouterr().err
    assert agents.find_by_username("boss") is None


def test_every_command_names_the_stage_tables_and_endpoint_it_works_on(tables, monkeypatch, capsys):
    assert manage.main(["list-agents"]) == 0

    err = capsys.readouterr().err
    assert "stage test" in err and "kefu-test-*" in err and "us-east-1" in err and "http://" in err


def test_a_stage_flag_names_the_target(tables, no_stage, moto_endpoint, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_endpoint)

    assert manage.main(["--stage", "test", "list-agents"]) == 0
    assert "working on stage test" in capsys.readouterr().err


def test_a_stage_flag_that_disagrees_with_the_environment_is_refused(tables, monkeypatch, capsys):
    assert manage.main(["--stage", "prod", "create-agent", "--username", "boss"]) == 2

    assert "disagrees" in capsys.readouterr().err
    assert agents.find_by_username("boss") is None


def test_the_running_local_stack_is_used_when_no_stage_is_named(tables, no_stage, moto_endpoint, capsys):
    (no_stage / "stack.json").write_text(json.dumps({
        "pid": os.getpid(), "dynamodb_endpoint": moto_endpoint, "stage": "test", "table_prefix": "kefu-test",
        "region": "us-east-1", "rest_url": "http://127.0.0.1:1"}))

    assert manage.main(["create-agent", "--username", "boss"]) == 0

    assert "using the local stack" in capsys.readouterr().err
    assert agents.find_by_username("boss") is not None


def test_backfilling_days_out_of_range_is_refused(tables, capsys):
    assert manage.main(["reports", "--from", "0001-01-01", "--to", "0001-01-01"]) == 1

    assert "out_of_range" in capsys.readouterr().err
