"""Always connected while a conversation is open: after a reload (or a return in a new tab) the
widget reconnects in the background, counts the agent's unread replies on the launcher with a
preview of the last, and catches up on what it missed without showing anything twice. A message
written before a reload is not lost."""

from __future__ import annotations

from typing import Any

from devstack import Stack
from tests.e2e.conftest import wait_for
from tests.e2e.protocol_helpers import api, online_agent, stored_messages
from tests.e2e.widget_support import SHOP, OpenWidget, open_panel, shop_page, widget_tag, write


def reply(stack: Stack, token: str, session_id: str, text: str) -> None:
    answer = api(stack, "POST", f"/api/sessions/{session_id}/messages", token,
                 json={"text": text, "client_msg_id": f"reply-{text}"})
    assert answer.status_code == 201, answer.text


def chatting_through(stack: Stack, page: Any, network: Any) -> tuple[set[str], str]:
    """The page's sockets routed through ``network`` (Playwright's ``route_web_socket`` handler);
    the customer writes and is chatting with Alice. Returns the sockets that were open before, and
    the conversation's session id."""
    from playwright.sync_api import expect

    page.route_web_socket(f"{stack.ws_url}*", network)
    before = set(stack.gateway.connection_ids())
    open_panel(page)
    write(page, "Hello")
    expect(page.get_by_test_id("kefu-status")).to_have_text("You are chatting with Alice")
    return before, page.evaluate("JSON.parse(localStorage.getItem('kefu.conversation')).session_id")


def drop_sockets(stack: Stack, before: set[str]) -> None:
    """The gateway drops every socket opened since ``before`` (a network cut, as the widget sees it)."""
    for connection_id in set(stack.gateway.connection_ids()) - before:
        stack.gateway.abort(connection_id)


def test_after_a_reload_an_agent_reply_shows_on_the_launcher_without_opening(
        stack: Stack, fresh: None, widget_tab: OpenWidget, connect: Any):
    from playwright.sync_api import expect

    alice, _ = online_agent(stack, connect, "Alice")
    tab = widget_tab(f"{SHOP}/shop.html", html=shop_page(widget_tag(stack)))
    page = tab.page
    open_panel(page)
    write(page, "Is the blue one in stock?")
    expect(page.get_by_test_id("kefu-status")).to_have_text("You are chatting with Alice")
    session_id = page.evaluate("JSON.parse(localStorage.getItem('kefu.conversation')).session_id")
    reply(stack, alice.token, session_id, "Let me look")
    expect(page.locator("[data-testid=kefu-message][data-sender=agent] .kefu-text")).to_have_text(["Let me look"])

    page.reload()  # mid-chat: the widget comes back closed, and reconnects by itself
    expect(page.get_by_test_id("kefu-launcher")).to_have_attribute("aria-expanded", "false")
    expect(page.locator("[data-testid=kefu-message][data-sender=agent][data-id]")).to_have_count(1)  # history
    expect(page.get_by_test_id("kefu-unread")).to_be_hidden()  # what was seen before is not unread
    reply(stack, alice.token, session_id, "Yes, two left")
    expect(page.get_by_test_id("kefu-unread")).to_have_text("1")
    expect(page.get_by_test_id("kefu-preview")).to_contain_text("Yes, two left")
    expect(page.get_by_test_id("kefu-panel")).to_be_hidden()

    # Gone altogether (the tab closed) while two more replies came; back in a new tab.
    page.close()
    reply(stack, alice.token, session_id, "Shall I reserve one?")
    reply(stack, alice.token, session_id, "It is reserved until Friday")
    returned = tab.page.context.new_page()
    returned.goto(f"{SHOP}/shop.html")
    expect(returned.get_by_test_id("kefu-unread")).to_have_text("3")
    expect(returned.get_by_test_id("kefu-preview")).to_contain_text("It is reserved until Friday")
    returned.get_by_test_id("kefu-launcher").click()
    expect(returned.get_by_test_id("kefu-unread")).to_be_hidden()
    expect(returned.locator("[data-testid=kefu-message]:not([data-sender=system]) .kefu-text")).to_have_text(
        ["Is the blue one in stock?", "Let me look", "Yes, two left", "Shall I reserve one?",
         "It is reserved until Friday"])
    # Seen in the widget is read for the agent.
    wait_for(lambda: all(m.get("read_at") for m in stored_messages(stack, alice.token, session_id)
                         if m["sender"]["type"] == "agent"))
    assert tab.errors == []


def test_a_dropped_socket_catches_up_on_everything_missed_once(
        stack: Stack, fresh: None, widget_tab: OpenWidget, connect: Any):
    from playwright.sync_api import expect

    alice, _ = online_agent(stack, connect, "Alice")
    tab = widget_tab(f"{SHOP}/drop.html", html=shop_page(widget_tag(stack)))
    page = tab.page
    reachable = [True]

    def network(socket: Any) -> None:  # the way to the WebSocket API, which the test may cut
        if reachable[0]:
            socket.connect_to_server()
        else:
            socket.close()

    before, session_id = chatting_through(stack, page, network)
    page.get_by_test_id("kefu-close").click()  # closed: the socket stays open all the same

    reachable[0] = False
    drop_sockets(stack, before)
    expect(page.get_by_test_id("kefu-status")).to_contain_text("reconnecting")
    missed = [f"missed {n}" for n in range(1, 6)]
    for text in missed:
        reply(stack, alice.token, session_id, text)
    reachable[0] = True
    expect(page.get_by_test_id("kefu-unread")).to_have_text("5", timeout=20_000)
    page.get_by_test_id("kefu-launcher").click()
    expect(page.locator("[data-testid=kefu-message][data-sender=agent] .kefu-text")).to_have_text(missed)
    expect(page.get_by_test_id("kefu-status")).to_have_text("You are chatting with Alice")
    assert tab.errors == []


def test_a_message_written_before_a_reload_is_still_sent(
        stack: Stack, fresh: None, widget_tab: OpenWidget, connect: Any):
    from playwright.sync_api import expect

    alice, _ = online_agent(stack, connect, "Alice")
    tab = widget_tab(f"{SHOP}/kept.html", html=shop_page(widget_tag(stack)))
    page = tab.page
    page.route(f"{stack.rest_url}/api/visitors", lambda route: None)  # the sign-up never answers
    open_panel(page)
    write(page, "Please call me back")
    expect(page.locator("[data-testid=kefu-message][data-client-msg-id] .kefu-meta")).to_have_text(["Sending…"])
    page.unroute(f"{stack.rest_url}/api/visitors")
    page.reload()  # before it was sent

    expect(page.locator("[data-testid=kefu-message][data-sender=visitor][data-id] .kefu-text")).to_have_text(
        ["Please call me back"])
    session_id = page.evaluate("JSON.parse(localStorage.getItem('kefu.conversation')).session_id")
    assert [m["text"] for m in stored_messages(stack, alice.token, session_id)] == ["Please call me back"]
    assert all("ERR_FAILED" in e or "net::" in e for e in tab.errors), tab.errors


def test_without_a_ticket_the_widget_opens_no_socket_and_reconnects_once_it_gets_one(
        stack: Stack, fresh: None, widget_tab: OpenWidget, connect: Any):
    """A socket opened without its one-time ticket would only be refused (a 403 in the console,
    a connect wasted): while ``POST /api/ws/ticket`` gets no answer, the widget backs off and asks
    again, and opens the socket with the ticket it finally gets."""
    from playwright.sync_api import expect

    alice, _ = online_agent(stack, connect, "Alice")
    tab = widget_tab(f"{SHOP}/ticketless.html", html=shop_page(widget_tag(stack)))
    page = tab.page
    opened: list[str] = []

    def network(socket: Any) -> None:
        opened.append(socket.url)
        socket.connect_to_server()

    before, session_id = chatting_through(stack, page, network)
    asked: list[str] = []

    def no_ticket(route: Any) -> None:
        asked.append(route.request.method)
        route.abort()

    page.route(f"{stack.rest_url}/api/ws/ticket", no_ticket)
    sockets_before = len(opened)
    drop_sockets(stack, before)
    expect(page.get_by_test_id("kefu-status")).to_contain_text("reconnecting")
    for _ in range(200):  # asked again after each backoff (0.5 s, 1 s, 2 s; the page's events run meanwhile)
        if asked.count("POST") >= 3:
            break
        page.wait_for_timeout(100)
    assert asked.count("POST") >= 3, asked

    assert len(opened) == sockets_before, opened[sockets_before:]
    reply(stack, alice.token, session_id, "Still there?")
    page.unroute(f"{stack.rest_url}/api/ws/ticket")
    expect(page.locator("[data-testid=kefu-message][data-sender=agent] .kefu-text")).to_have_text(
        ["Still there?"], timeout=20_000)
    expect(page.get_by_test_id("kefu-status")).to_have_text("You are chatting with Alice")
    assert len(opened) == sockets_before + 1 and "ticket=" in opened[-1] and not opened[-1].endswith("ticket=")
    # Only the failed ticket requests, and the widget's hint that a failed request may be CORS.
    assert all("ERR_FAILED" in e or "kefu: this page's origin" in e for e in tab.errors), tab.errors
