"""One-time WebSocket tickets through the real local stack: a ticket opens one socket, once, within
a minute, for the user (and token generation) that asked for it; the widget and the console
connect with tickets, so no token appears in a WebSocket URL; ``?token=`` still works."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from chalicelib.services import agents, devices, revocation
from devstack import Stack
from tests.e2e.conftest import ping
from tests.e2e.protocol_helpers import agent_account, api, online_agent, sign_up_visitor
from tests.e2e.test_web_ui import PASSWORD, agent_with_login, browser, open_tab  # noqa: F401  (fixtures)

Connect = Callable[..., Any]
Opener = Callable[[Stack, str], ClientConnection]


def _ticket(stack: Stack, token: str | None) -> str:
    response = api(stack, "POST", "/api/ws/ticket", token)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["expires_in"] == 60
    return str(body["ticket"])


@pytest.fixture
def open_with() -> Iterator[Callable[[Stack, str], ClientConnection]]:
    """``open_with(stack, ticket)``: a socket opened with ``?ticket=``, closed after the test."""
    opened: list[ClientConnection] = []

    def open_(stack: Stack, ticket: str) -> ClientConnection:
        client = connect(f"{stack.ws_url}?ticket={ticket}", open_timeout=10, close_timeout=2)
        opened.append(client)
        return client

    yield open_
    for client in opened:
        client.close()


def _refused(open_with: Opener, stack: Stack, ticket: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        open_with(stack, ticket)
    return refused.value.response.status_code


def test_a_ticket_opens_one_socket_once(stack: Stack, fresh: None, open_with: Opener) -> None:
    visitor = sign_up_visitor(stack, "Tia")
    ticket = _ticket(stack, visitor.token)

    socket = open_with(stack, ticket)

    assert ping(socket)["type"] == "pong"
    assert _refused(open_with, stack, ticket) == 403


def test_connects_racing_with_one_ticket_open_exactly_one_socket(stack: Stack, fresh: None,
                                                                 open_with: Opener) -> None:
    ticket = _ticket(stack, sign_up_visitor(stack, "Race").token)

    def attempt(_: int) -> int:
        try:
            open_with(stack, ticket)
        except InvalidStatus as e:
            return e.response.status_code
        return 101

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(attempt, range(10)))

    assert sorted(outcomes) == [101] + [403] * 9


def test_a_ticket_is_good_for_a_minute_only(stack: Stack, fresh: None, open_with: Opener,
                                            time_passes: Callable[[float], None]) -> None:
    ticket = _ticket(stack, sign_up_visitor(stack, "Slow").token)
    time_passes(61)

    assert _refused(open_with, stack, ticket) == 403


def test_an_agents_ticket_opens_a_socket_that_speaks_for_the_agent(stack: Stack, fresh: None,
                                                                   open_with: Opener) -> None:
    agent = agent_account("Tom")
    socket = open_with(stack, _ticket(stack, agent.token))

    connection_id = ping(socket)["connection_id"]

    assert connection_id in agents.get_agent(agent.id).socket_ids


def test_revoking_the_token_revokes_the_tickets_it_asked_for(stack: Stack, fresh: None,
                                                            open_with: Opener) -> None:
    agent = agent_account("Rev")
    ticket = _ticket(stack, agent.token)
    revocation.revoke("agent", agent.id)

    assert _refused(open_with, stack, ticket) == 403


def test_a_ticket_needs_a_valid_token_and_a_made_up_one_opens_nothing(stack: Stack, fresh: None,
                                                                      open_with: Opener) -> None:
    assert api(stack, "POST", "/api/ws/ticket").status_code == 401
    assert api(stack, "POST", "/api/ws/ticket", "not.a.token").status_code == 401
    assert _refused(open_with, stack, uuid.uuid4().hex) == 403
    assert _refused(open_with, stack, "x" * 5000) == 403


def test_a_token_in_the_query_string_still_connects(stack: Stack, fresh: None, ws_connect: Connect) -> None:
    visitor = sign_up_visitor(stack, "Old")

    assert ping(ws_connect(visitor.token))["type"] == "pong"


# --- the browser clients ---------------------------------------------------------------------------


def test_the_widget_and_the_console_connect_with_tickets_and_no_token_in_any_url(
        stack: Stack, fresh: None, open_tab: Any, connect: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    online_agent(stack, connect, "Busy", max_concurrent=0)  # someone online but full: customers queue
    urls: list[str] = []
    customer = open_tab(stack.widget_url).page
    customer.on("websocket", lambda socket: urls.append(socket.url))
    customer.get_by_test_id("kefu-launcher").click()
    customer.get_by_test_id("kefu-name").fill("Ann")
    customer.get_by_test_id("kefu-start").click()
    customer.get_by_test_id("kefu-input").fill("Hello")  # the first message opens the conversation (#19)
    customer.get_by_test_id("kefu-send").click()
    expect(customer.get_by_test_id("kefu-status")).to_contain_text("queue")
    username = agent_with_login("Una")
    agent = open_tab(stack.console_url).page
    agent.on("websocket", lambda socket: urls.append(socket.url))
    agent.get_by_test_id("login-username").fill(username)
    agent.get_by_test_id("login-password").fill(PASSWORD)
    agent.get_by_test_id("login-submit").click()
    expect(agent.locator("#live.on")).to_be_visible()

    visitor_token = customer.evaluate("JSON.parse(localStorage.getItem('kefu.visitor')).token")
    agent_token = agent.evaluate("JSON.parse(sessionStorage.getItem('kefu.console')).token")
    assert len(urls) == 2 and all("?ticket=" in url and "token" not in url for url in urls), urls
    assert not any(visitor_token in url or agent_token in url for url in urls)


def test_the_console_sends_its_device_token_back_with_the_next_login(
        stack: Stack, fresh: None, open_tab: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    username = agent_with_login("Dev")
    agent = open_tab(stack.console_url).page
    for _ in range(2):
        agent.get_by_test_id("login-username").fill(username)
        agent.get_by_test_id("login-password").fill(PASSWORD)
        with agent.expect_request(lambda r: r.url.endswith("/api/auth/login")) as login:
            agent.get_by_test_id("login-submit").click()
        expect(agent.locator("#live.on")).to_be_visible()
        sent = login.value.post_data_json
        agent.locator("#logout").click()
        agent.wait_for_load_state()

    kept = agent.evaluate(f"localStorage.getItem('kefu.device.{username}')")
    device = devices.recognise(kept, username)
    assert device is not None and devices.recognise(sent["device_token"], username) == device
