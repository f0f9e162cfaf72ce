"""Limits over REST: login throttling, message rate per user, sign-ups per address, and answers to
bad input that stay client errors (never a 500), in the one ``{"error", "message"}`` shape."""

from __future__ import annotations

import json

import pytest

from chalicelib import clock
from chalicelib.config import reload_config
from chalicelib.services import ratelimit
from tests.api.conftest import PASSWORD


@pytest.fixture
def settings(monkeypatch):
    """Tighten limits for one test: ``settings(KEFU_LOGIN_USER_LIMIT=3)``."""

    def apply(**values: str | int | float) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, str(value))
        reload_config()

    yield apply
    monkeypatch.undo()
    reload_config()
    clock.reset()


def _login(api, username: str, password: str):
    return api.post("/api/auth/login", body={"username": username, "password": password})


# --- login -------------------------------------------------------------------------------------------


def test_failed_logins_for_one_username_are_refused_with_429_and_retry_after(api, people, settings):
    settings(KEFU_LOGIN_USER_LIMIT=3, KEFU_LOGIN_WINDOW=600)
    api_agent = "carol"
    from chalicelib.services import agents

    agents.create_agent(api_agent, PASSWORD, "Carol", "agent", None)

    statuses = [_login(api, api_agent, "wrong guess").status_code for _ in range(3)]
    locked = _login(api, api_agent, PASSWORD)  # right password, but this address never logged in

    assert statuses == [401, 401, 401]
    assert locked.status_code == 429
    assert locked.json_body["error"] == "rate_limited"
    assert 1 <= int(locked.headers["Retry-After"]) <= 600


def test_a_username_lockout_lifts_once_the_failures_leave_the_window(api, people, settings):
    settings(KEFU_LOGIN_USER_LIMIT=2, KEFU_LOGIN_WINDOW=60)
    from chalicelib.services import agents

    agents.create_agent("dave", PASSWORD, "Dave", "agent", None)
    for _ in range(2):
        _login(api, "dave", "wrong guess")
    assert _login(api, "dave", PASSWORD).status_code == 429

    clock.advance(61)

    assert _login(api, "dave", PASSWORD).status_code == 200


def test_failures_from_elsewhere_do_not_lock_an_agent_out_of_an_address_they_used(api, people, settings):
    settings(KEFU_LOGIN_USER_LIMIT=2)
    agent = people.agent("erin")  # logs in once from the test client's address: now a known one
    for _ in range(5):
        ratelimit.record_login_failure(agent.username, "203.0.113.7")  # an attacker's address

    assert _login(api, agent.username, PASSWORD).status_code == 200


def test_one_address_guessing_many_usernames_is_throttled(api, people, settings):
    settings(KEFU_LOGIN_IP_LIMIT=4)

    statuses = [_login(api, f"nobody{n}", "guess").status_code for n in range(6)]

    assert statuses == [401, 401, 401, 401, 429, 429]


# --- messages and sign-ups ---------------------------------------------------------------------------


def test_rest_sends_count_against_the_users_message_limit(api, people, settings):
    settings(KEFU_WS_RATE_LIMIT=5, KEFU_WS_RATE_WINDOW=10)
    visitor = people.visitor("Ann")
    session_id = people.start_session(visitor).session.session_id

    answers = [api.post(f"/api/sessions/{session_id}/messages", visitor,
                        body={"text": f"m{n}", "client_msg_id": f"c{n}"}) for n in range(7)]

    assert [a.status_code for a in answers] == [201] * 5 + [429, 429]
    assert answers[-1].json_body["error"] == "rate_limited"
    assert "Retry-After" in answers[-1].headers


def test_visitor_sign_ups_are_limited_per_source_address(api, settings):
    settings(KEFU_SIGNUPS_PER_IP=2)

    statuses = [api.post("/api/visitors", body={}).status_code for _ in range(3)]

    assert statuses == [201, 201, 429]


# --- bad input ---------------------------------------------------------------------------------------


def test_deeply_nested_json_is_400_not_500(api, people):
    agent = people.admin()
    nested = "[" * 10_000 + "]" * 10_000  # about 20 KB

    response = api.post("/api/agents", agent, raw=nested)

    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_json"


def test_a_lone_surrogate_in_a_body_is_400(api, people):
    visitor = people.visitor()
    session_id = people.start_session(visitor).session.session_id

    response = api.post(f"/api/sessions/{session_id}/messages", visitor,
                        raw='{"text": "hi", "client_msg_id": "\\ud800"}')

    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_json"


@pytest.mark.parametrize("value", ["3", True, 3.5])
def test_max_concurrent_must_be_a_json_integer(api, people, value):
    admin = people.admin()

    response = api.post("/api/agents", admin, body={"username": "frank", "password": "s3cret-pass",
                                                    "max_concurrent": value})

    assert response.status_code == 422
    assert response.json_body["error"] == "validation_error"


def test_reusing_a_client_msg_id_with_another_text_is_409(api, people):
    visitor = people.visitor()
    session_id = people.start_session(visitor).session.session_id
    path = f"/api/sessions/{session_id}/messages"

    first = api.post(path, visitor, body={"text": "pay 10", "client_msg_id": "x1"})
    retry = api.post(path, visitor, body={"text": "pay 10", "client_msg_id": "x1"})
    other = api.post(path, visitor, body={"text": "pay 1000", "client_msg_id": "x1"})

    assert (first.status_code, retry.status_code, other.status_code) == (201, 200, 409)
    assert other.json_body["error"] == "conflict"


def test_a_wrong_method_is_405_in_the_house_shape(api, people):
    response = api.call("delete", "/api/visitors")

    assert response.status_code == 405
    assert set(response.json_body) == {"error", "message"}
    assert response.json_body["error"] == "method_not_allowed"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_an_unsupported_media_type_is_415_in_the_house_shape(api):
    response = api.post("/api/visitors", raw="name=x",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})

    assert response.status_code == 415
    assert response.json_body == {"error": "unsupported_media_type", "message": response.json_body["message"]}


def test_public_health_names_no_tables_but_an_admin_sees_them(api, people):
    public = api.get("/api/system/health")
    agent = api.get("/api/system/health", people.agent())
    admin = api.get("/api/system/health", people.admin())

    assert public.status_code == 200
    assert set(public.json_body) == {"status", "checked_at"}
    assert "kefu-test" not in json.dumps(agent.json_body)
    assert {c["table"] for c in admin.json_body["checks"]} >= {"kefu-test-connections"}


def test_every_answer_says_nosniff(api, people):
    admin = people.admin()
    answers = [api.get("/api/system/health"), api.get("/api/agents", admin),
               api.post("/api/visitors", raw="{"), api.call("put", "/api/visitors")]

    assert [a.headers.get("X-Content-Type-Options") for a in answers] == ["nosniff"] * 4
