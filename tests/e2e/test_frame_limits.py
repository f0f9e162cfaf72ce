"""Limits on what a client may send over the socket: size and rate. Each refusal is an error frame
and the connection stays usable."""

from __future__ import annotations

import json

import pytest

from chalicelib.config import reload_config
from tests.e2e.conftest import agent_token, ping, recv_json


@pytest.fixture
def tight_rate_limit(monkeypatch, time_passes):
    """The stack runs in this process and reads the same config: 5 frames at once, then one back
    every 60 s. The budget is a token bucket (``budgets``, GCRA): with 5 per 2 s a frame came back
    every 0.4 s, about what eight frames take to be served on a busy machine. The clock seam
    (``time_passes``) moves time on instead of the test sleeping."""
    opened_on = reload_config().ws_rate_window_seconds
    monkeypatch.setenv("KEFU_WS_RATE_LIMIT", "5")
    monkeypatch.setenv("KEFU_WS_RATE_WINDOW", "300")
    reload_config()
    yield opened_on
    monkeypatch.undo()
    reload_config()


def test_a_message_over_32_kb_is_refused_as_too_large_and_the_socket_stays_usable(stack, ws_connect):
    client = ws_connect(agent_token())
    client.send(json.dumps({"action": "ping", "padding": "x" * 40_000}))
    error = recv_json(client)
    assert error["type"] == "error"
    assert error["code"] == "too_large"
    assert ping(client)["type"] == "pong"


def test_frames_beyond_the_rate_limit_are_refused_until_one_comes_back(stack, ws_connect, tight_rate_limit,
                                                                        time_passes):
    client = ws_connect(agent_token())
    time_passes(tight_rate_limit)  # the agent's earlier frames (other tests', on the default budget) are behind
    for _ in range(8):
        client.send(json.dumps({"action": "ping"}))
    replies = [recv_json(client) for _ in range(8)]
    assert [r["type"] for r in replies].count("pong") == 5
    refused = [r for r in replies if r["type"] == "error"]
    assert len(refused) == 3
    assert {r["code"] for r in refused} == {"rate_limited"}
    assert {r["action"] for r in refused} == {"ping"}
    time_passes(max(r["retry_after"] for r in refused))
    assert ping(client)["type"] == "pong"


def test_a_token_of_an_agent_who_no_longer_exists_cannot_connect(stack, ws_connect):
    from websockets.exceptions import InvalidStatus

    from chalicelib.services import tokens
    from chalicelib.services.tokens import Principal

    token, _ = tokens.issue(Principal(user_id="a_deleted", typ="agent", role="admin", name="Gone"))
    with pytest.raises(InvalidStatus) as rejected:
        ws_connect(token)
    assert rejected.value.response.status_code == 403
