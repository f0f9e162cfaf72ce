"""Limits over REST: login throttling, message rate per user, sign-ups per address, and answers to
bad input that stay client errors (never a 500), in the one ``{"error", "message"}`` shape."""

from __future__ import annotations

import json

import pytest

from chalicelib import clock
from chalicelib.config import get_config, reload_config
from tests.api.conftest import PASSWORD


@pytest.fixture
def settings(settings):
    """tests/conftest.py's ``settings``; these tests also move the clock, which comes back here."""
    yield settings
    clock.reset()


def _login(api, username: str, password: str):
    return api.post("/api/auth/login", body={"username": username, "password": password})


# --- login ---------------------------------------------------------------------------------------


def _new_agent(username: str) -> str:
    from chalicelib.services import agents

    agents.create_agent(username, PASSWORD, username.title(), "agent", None)
    return username


def _refused_for(response) -> int:
    assert response.status_code == 429, response.body
    assert response.json_body["error"] == "rate_limited"
    return int(response.headers["Retry-After"])


def test_failed_logins_for_an_account_slow_it_down_for_seconds_not_lock_it(api, settings):
    settings(KEFU_LOGIN_FREE_PER_ACCOUNT=3, KEFU_LOGIN_FIRST_WAIT=30)
    username = _new_agent("carol")

    statuses = [_login(api, username, "wrong guess").status_code for _ in range(3)]
    waiting = _login(api, username, PASSWORD)  # right password, from an address never used with it
    clock.advance(30)
    after_the_wait = _login(api, username, PASSWORD)

    assert statuses == [401, 401, 401]
    assert _refused_for(waiting) == 30
    assert after_the_wait.status_code == 200


def test_each_failure_past_the_free_ones_doubles_the_wait_up_to_a_cap(api, settings):
    settings(KEFU_LOGIN_FREE_PER_ACCOUNT=2, KEFU_LOGIN_FIRST_WAIT=10, KEFU_LOGIN_MAX_WAIT=40)
    username = _new_agent("dave")
    for _ in range(2):
        _login(api, username, "wrong guess")

    waits = []
    for _ in range(4):
        wait = _refused_for(_login(api, username, "wrong guess"))
        waits.append(wait)
        clock.advance(wait)
        assert _login(api, username, "wrong guess").status_code == 401

    assert waits == [10, 20, 40, 40]


def test_a_right_password_does_not_count_as_a_failure(api, settings):
    settings(KEFU_LOGIN_FREE_PER_ACCOUNT=2, KEFU_LOGIN_FIRST_WAIT=60)
    username = _new_agent("gina")

    statuses = [_login(api, username, PASSWORD).status_code for _ in range(4)]
    statuses.append(_login(api, username, "wrong guess").status_code)

    assert statuses == [200, 200, 200, 200, 401]


def test_a_right_password_is_let_in_though_its_attempt_cannot_be_given_back(api, settings):
    from tests import faults

    username = _new_agent("hana")

    def giving_back(params: dict) -> bool:  # strikes - 1, as racing logins' transactions cancel it
        return '"-1"' in json.dumps(params)

    with faults.cancel("TransactionConflict", times=100, when=giving_back) as cancelled:
        answered = _login(api, username, PASSWORD)

    assert cancelled.injected["TransactWriteItems"] >= 2  # the give-backs, each retried until it gave up
    assert answered.status_code == 200, answered.body  # not a 503: the attempt merely stays counted


def test_a_login_answers_a_device_token_that_exempts_that_browser_from_others_failures(api, settings):
    settings(KEFU_LOGIN_FREE_PER_ACCOUNT=2, KEFU_LOGIN_FREE_PER_DEVICE=2, KEFU_LOGIN_FIRST_WAIT=600)
    username = _new_agent("erin")
    device_token = _login(api, username, PASSWORD).json_body["device_token"]
    for _ in range(6):  # someone else, without the browser's device token, guessing
        _login(api, username, "wrong guess")

    with_device = api.post("/api/auth/login", body={"username": username, "password": PASSWORD,
                                                    "device_token": device_token})

    assert _refused_for(_login(api, username, PASSWORD)) > 0
    assert with_device.status_code == 200
    assert with_device.json_body["device_token"]


def test_a_browser_guessing_with_its_device_token_slows_down_only_itself(api, settings):
    settings(KEFU_LOGIN_FREE_PER_DEVICE=2, KEFU_LOGIN_FIRST_WAIT=600)
    username = _new_agent("fred")
    device_token = _login(api, username, PASSWORD).json_body["device_token"]
    body = {"username": username, "password": "wrong guess", "device_token": device_token}

    statuses = [api.post("/api/auth/login", body=body).status_code for _ in range(3)]
    other_browser = api.post("/api/auth/login", body={"username": username, "password": PASSWORD,
                                                      "device_token": _login(api, username, PASSWORD)
                                                      .json_body["device_token"]})

    assert statuses == [401, 401, 429]
    assert other_browser.status_code == 200


def test_a_device_token_counts_only_for_the_username_it_was_issued_for(api, settings):
    settings(KEFU_LOGIN_FREE_PER_ACCOUNT=1, KEFU_LOGIN_FIRST_WAIT=600)
    mine = _new_agent("hank")
    other = _new_agent("ivy")
    device_token = _login(api, mine, PASSWORD).json_body["device_token"]
    _login(api, other, "wrong guess")

    borrowed = api.post("/api/auth/login", body={"username": other, "password": PASSWORD,
                                                 "device_token": device_token})
    forged = api.post("/api/auth/login", body={"username": other, "password": PASSWORD,
                                               "device_token": device_token[:-4] + "AAAA"})

    assert _refused_for(borrowed) > 0 and _refused_for(forged) > 0


def test_a_device_token_is_no_bearer_token(api, people):
    username = _new_agent("jack")
    device_token = _login(api, username, PASSWORD).json_body["device_token"]

    response = api.get("/api/agents/me", headers={"Authorization": f"Bearer {device_token}"})

    assert response.status_code in (401, 403)


def test_one_address_guessing_many_usernames_is_slowed_down(api, people, settings):
    settings(KEFU_LOGIN_FREE_PER_ADDRESS=4, KEFU_LOGIN_FIRST_WAIT=60)

    statuses = [_login(api, f"nobody{n}", "guess").status_code for n in range(6)]

    assert statuses == [401, 401, 401, 401, 429, 429]


# --- messages and sign-ups ---------------------------------------------------------------------------


def test_rest_sends_count_against_the_users_message_limit(api, people, settings):
    settings(KEFU_WS_RATE_LIMIT=5, KEFU_WS_RATE_WINDOW=1000)
    visitor = people.visitor("Ann")
    session_id = people.start_session(visitor).session.session_id

    answers = [api.post(f"/api/sessions/{session_id}/messages", visitor,
                        body={"text": f"m{n}", "client_msg_id": f"c{n}"}) for n in range(7)]

    assert [a.status_code for a in answers] == [201] * 5 + [429, 429]
    assert answers[-1].json_body["error"] == "rate_limited"
    assert "Retry-After" in answers[-1].headers


def test_sign_ups_from_one_address_refill_steadily_never_a_half_day_refusal(api, settings):
    settings(KEFU_SIGNUPS_PER_ADDRESS=3, KEFU_ADDRESS_WINDOW=3600)

    statuses = [api.post("/api/visitors", body={}).status_code for _ in range(3)]
    refused = api.post("/api/visitors", body={})
    clock.advance(1200)  # one sign-up back every 3600 s / 3
    later = api.post("/api/visitors", body={})

    assert statuses == [201, 201, 201]
    assert _refused_for(refused) == 1200
    assert later.status_code == 201


def test_a_shared_address_gets_hundreds_of_sign_ups_an_hour_by_default(api, monkeypatch):
    monkeypatch.delenv("KEFU_SIGNUPS_PER_ADDRESS")
    reload_config()
    try:
        statuses = {api.post("/api/visitors", body={}).status_code for _ in range(40)}
        budget = get_config().signups_per_address
    finally:
        monkeypatch.undo()
        reload_config()

    assert statuses == {201}
    assert budget >= 200


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
