"""Limits per address and per account through the real local stack, with callers on several
loopback addresses (the stack passes each caller's own address, as API Gateway does): a shared
address is never locked out, an agent is never locked out by someone else's failures, and racing
logins check exactly as many passwords as the limit allows."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from chalicelib.services import agents
from devstack import Stack
from tests.e2e.addresses import rest_from, socket_options
from tests.e2e.conftest import Connect as WsConnect
from tests.e2e.protocol_helpers import Peer

PASSWORD = "correct horse battery"


def _agent() -> str:
    username = f"agent-{uuid.uuid4().hex[:8]}"
    agents.create_agent(username, PASSWORD, "Agent", "agent")
    return username


def _login(stack: Stack, address: str, username: str, password: str, device_token: str | None = None):
    body = {"username": username, "password": password}
    if device_token:
        body["device_token"] = device_token
    return rest_from(stack, address, "POST", "/api/auth/login", json=body)


def _sign_up(stack: Stack, address: str):
    return rest_from(stack, address, "POST", "/api/visitors", json={})


def test_each_rest_caller_is_seen_at_its_own_address(stack: Stack, fresh: None,
                                                     settings: Callable[..., None]) -> None:
    settings(KEFU_SIGNUPS_PER_ADDRESS=2)

    first = [_sign_up(stack, "127.0.0.2").status_code for _ in range(3)]
    elsewhere = _sign_up(stack, "127.0.0.3").status_code

    assert first == [201, 201, 429]
    assert elsewhere == 201


def test_racing_sign_ups_from_one_address_pass_exactly_its_budget(stack: Stack, fresh: None,
                                                                 settings: Callable[..., None]) -> None:
    settings(KEFU_SIGNUPS_PER_ADDRESS=5)

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda _: _sign_up(stack, "127.0.0.11").status_code, range(20)))

    assert statuses.count(201) == 5 and statuses.count(429) == 15, statuses


def test_failed_logins_from_a_shared_address_never_lock_out_those_who_signed_in_from_it(
        stack: Stack, fresh: None, settings: Callable[..., None]) -> None:
    settings(KEFU_LOGIN_FREE_PER_ADDRESS=5, KEFU_LOGIN_FIRST_WAIT=600)
    office = "127.0.0.4"
    admin, colleague = _agent(), _agent()
    device_token = _login(stack, office, admin, PASSWORD).json()["device_token"]
    _login(stack, office, colleague, PASSWORD)  # the colleague's browser keeps no device token
    guesses = [_login(stack, office, f"nobody-{n}", "guess").status_code for n in range(20)]

    admin_again = _login(stack, office, admin, PASSWORD, device_token)
    colleague_again = _login(stack, office, colleague, PASSWORD)

    assert guesses.count(401) == 5 and guesses.count(429) == 15
    assert admin_again.status_code == 200
    assert colleague_again.status_code == 200


def test_wrong_passwords_from_elsewhere_never_lock_an_agent_out(
        stack: Stack, fresh: None, settings: Callable[..., None]) -> None:
    settings(KEFU_LOGIN_FREE_PER_ACCOUNT=5, KEFU_LOGIN_FIRST_WAIT=5)
    agent = _agent()
    device_token = _login(stack, "127.0.0.2", agent, PASSWORD).json()["device_token"]
    attacks = [_login(stack, "127.0.0.3", agent, "wrong guess").status_code for _ in range(10)]

    from_own_browser = _login(stack, "127.0.0.2", agent, PASSWORD, device_token)
    from_a_new_place = _login(stack, "127.0.0.5", agent, PASSWORD)

    assert attacks.count(401) >= 5 and 429 in attacks
    assert from_own_browser.status_code == 200
    if from_a_new_place.status_code == 429:  # slowed down for seconds, not locked for 15 minutes
        assert int(from_a_new_place.headers["Retry-After"]) <= 60
    else:
        assert from_a_new_place.status_code == 200


def _race_logins(stack: Stack, address: str, usernames: list[str]) -> list[int]:
    with ThreadPoolExecutor(max_workers=len(usernames)) as pool:
        return list(pool.map(lambda name: _login(stack, address, name, "wrong guess").status_code,
                             usernames))


def test_racing_wrong_passwords_for_one_account_check_exactly_the_free_attempts(
        stack: Stack, fresh: None, settings: Callable[..., None]) -> None:
    settings(KEFU_LOGIN_FREE_PER_ACCOUNT=5, KEFU_LOGIN_FIRST_WAIT=600)
    agent = _agent()

    statuses = _race_logins(stack, "127.0.0.6", [agent] * 30)

    assert statuses.count(401) == 5 and statuses.count(429) == 25


def test_racing_wrong_passwords_from_one_address_check_exactly_the_free_attempts(
        stack: Stack, fresh: None, settings: Callable[..., None]) -> None:
    settings(KEFU_LOGIN_FREE_PER_ADDRESS=5, KEFU_LOGIN_FIRST_WAIT=600)

    statuses = _race_logins(stack, "127.0.0.7", [f"nobody-{n}" for n in range(30)])

    assert statuses.count(401) == 5 and statuses.count(429) == 25


def _visitor_socket(stack: Stack, ws_connect: WsConnect, address: str) -> Peer:
    signed = _sign_up(stack, address).json()
    return Peer(ws_connect(signed["token"], **socket_options(address)))


def _start(peer: Peer) -> dict:
    peer.send("start_session")
    return peer.expect(("session.queued", "session.assigned", "error"))


def test_each_visitor_has_a_budget_of_new_conversations_of_their_own(
        stack: Stack, fresh: None, ws_connect: WsConnect, settings: Callable[..., None]) -> None:
    settings(KEFU_CONVERSATIONS_PER_VISITOR=2)
    eager = _visitor_socket(stack, ws_connect, "127.0.0.8")
    neighbour = _visitor_socket(stack, ws_connect, "127.0.0.8")
    answers = []
    for _ in range(3):
        answer = _start(eager)
        answers.append(answer["type"] if answer["type"] != "error" else answer["code"])
        if answer["type"] != "error":
            eager.send("end_session", session_id=answer["session_id"])
            eager.expect("session.ended", session_id=answer["session_id"])

    assert answers == ["session.queued", "session.queued", "rate_limited"]
    assert _start(neighbour)["type"] == "session.queued"


def test_new_conversations_are_budgeted_per_address(
        stack: Stack, fresh: None, ws_connect: WsConnect, settings: Callable[..., None]) -> None:
    settings(KEFU_CONVERSATIONS_PER_ADDRESS=1)
    first, second = (_visitor_socket(stack, ws_connect, "127.0.0.9") for _ in range(2))
    elsewhere = _visitor_socket(stack, ws_connect, "127.0.0.10")

    assert _start(first)["type"] == "session.queued"
    refused = _start(second)
    assert (refused["type"], refused["code"]) == ("error", "rate_limited")
    assert _start(elsewhere)["type"] == "session.queued"
