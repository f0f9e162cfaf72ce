"""Away and offline: before the customer writes, the widget asks whether anyone can answer; when
nobody can, it says so and asks for an email. The message is still stored (a conversation waiting
for an agent); an agent who comes online later answers it; the answer goes by email to a customer
who left, and the customer sees it when they come back."""

from __future__ import annotations

from typing import Any

from devstack import Stack
from tests.conftest import sent_mail
from tests.e2e.conftest import wait_for
from tests.e2e.protocol_helpers import admin_token, api, online_agent
from tests.e2e.widget_support import SHOP, OpenWidget, open_panel, shop_page, widget_tag

OFFLINE_TEXT = "Closed for the night. Leave your email and we will write back."


def test_an_offline_message_is_answered_later_by_email_and_in_the_widget_on_return(
        stack: Stack, fresh: None, widget_tab: OpenWidget, connect: Any):
    from playwright.sync_api import expect

    admin = admin_token(stack)
    assert api(stack, "PUT", "/api/widget/settings", admin, json={"offline_text": OFFLINE_TEXT}).status_code == 200
    before = set(stack.gateway.connection_ids())
    tab = widget_tab(f"{SHOP}/away.html", html=shop_page(widget_tag(stack)))
    page = tab.page
    open_panel(page)
    expect(page.get_by_test_id("kefu-offline")).to_have_text(OFFLINE_TEXT)  # asked before writing
    expect(page.get_by_test_id("kefu-email")).to_be_visible()
    page.get_by_test_id("kefu-start").click()
    expect(page.get_by_test_id("kefu-offline")).to_be_visible()
    page.get_by_test_id("kefu-email").fill("ann@example.com")
    page.get_by_test_id("kefu-input").fill("Do you ship to Norway?")
    page.get_by_test_id("kefu-send").click()
    expect(page.get_by_test_id("kefu-status")).to_have_text(
        "Nobody is here right now: we'll answer as soon as we are back.")
    expect(page.locator("[data-testid=kefu-message][data-sender=visitor][data-id]")).to_have_count(1)
    expect(page.get_by_test_id("kefu-email")).to_be_hidden()  # given once is enough
    session_id = page.evaluate("JSON.parse(localStorage.getItem('kefu.conversation')).session_id")

    # The customer leaves; their socket closes.
    customer_sockets = set(stack.gateway.connection_ids()) - before
    assert customer_sockets
    page.close()
    wait_for(lambda: not customer_sockets & set(stack.gateway.connection_ids()))

    # Later an agent comes online, finds the conversation waiting and answers it.
    alice, _ = online_agent(stack, connect, "Alice")
    waiting = wait_for(lambda: [s for s in api(stack, "GET", "/api/sessions?status=offline", alice.token).json()[
        "sessions"] if s["session_id"] == session_id], timeout=15)
    assert waiting[0]["identity"]["email"] == "ann@example.com"
    answer = api(stack, "POST", f"/api/sessions/{session_id}/messages", alice.token,
                 json={"text": "Yes, in 3 to 5 days.", "client_msg_id": "night-1"})
    assert answer.status_code == 201, answer.text

    mail = wait_for(lambda: [m for m in sent_mail() if "ann@example.com" in m["to"]], timeout=15)
    assert "Yes, in 3 to 5 days." in mail[-1]["text"]

    # The customer comes back: the widget reconnects on its own and shows the answer waiting.
    returned = tab.page.context.new_page()
    returned.goto(f"{SHOP}/away.html")
    expect(returned.get_by_test_id("kefu-unread")).to_have_text("1")
    expect(returned.get_by_test_id("kefu-preview")).to_contain_text("Yes, in 3 to 5 days.")
    returned.get_by_test_id("kefu-launcher").click()
    agent_line = returned.locator("[data-testid=kefu-message][data-sender=agent]")
    expect(agent_line.locator(".kefu-text")).to_have_text(["Yes, in 3 to 5 days."])
    expect(agent_line).to_have_attribute("data-sender-name", "Alice")
    expect(returned.get_by_test_id("kefu-status")).to_have_text("You are chatting with Alice")
    expect(returned.get_by_test_id("kefu-unread")).to_be_hidden()
    expect(returned.get_by_test_id("kefu-offline")).to_be_hidden()
    assert tab.errors == []


def test_with_an_agent_online_there_is_no_away_note(stack: Stack, fresh: None, widget_tab: OpenWidget,
                                                      connect: Any):
    from playwright.sync_api import expect

    online_agent(stack, connect, "Alice")
    page = widget_tab(f"{SHOP}/open.html", html=shop_page(widget_tag(stack))).page
    with page.expect_response(lambda r: r.url.endswith("/api/widget/availability")) as asked:
        open_panel(page)
    assert asked.value.json()["can_answer"] is True
    expect(page.get_by_test_id("kefu-offline")).to_be_hidden()
    expect(page.get_by_test_id("kefu-email")).to_be_hidden()
