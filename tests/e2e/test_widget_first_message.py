"""Start on the first message: opening the widget and the pre-chat step create nothing on the
server; the first message creates the conversation and is stored, in order with the ones after it,
even when they were written while the visitor was still being signed up and the socket connecting.
The pre-chat name and email are optional and configurable."""

from __future__ import annotations

from typing import Any

from devstack import Stack
from tests.e2e.protocol_helpers import admin_token, api, online_agent, stored_messages
from tests.e2e.widget_support import (
    SHOP,
    OpenWidget,
    open_panel,
    sessions_stored,
    shop_page,
    shown_texts,
    widget_tag,
)


def visitor_token(page: Any) -> str:
    return str(page.evaluate("JSON.parse(localStorage.getItem('kefu.visitor')).token"))


def test_opening_the_widget_and_typing_nothing_creates_no_session(
        stack: Stack, fresh: None, widget_tab: OpenWidget):
    from playwright.sync_api import expect

    tab = widget_tab(f"{SHOP}/look.html", html=shop_page(widget_tag(stack, prechat_email="optional")))
    page = tab.page
    writes: list[str] = []
    page.on("request", lambda r: writes.append(f"{r.method} {r.url}") if r.method not in ("GET", "OPTIONS") else None)
    open_panel(page)
    page.get_by_test_id("kefu-name").fill("Curious")
    page.get_by_test_id("kefu-prechat-email").fill("curious@example.com")
    page.get_by_test_id("kefu-start").click()
    page.get_by_test_id("kefu-input").fill("Just looking")  # typed, never sent
    expect(page.get_by_test_id("kefu-composer")).to_be_visible()
    page.get_by_test_id("kefu-close").click()
    page.get_by_test_id("kefu-launcher").click()
    page.wait_for_timeout(1000)  # anything the widget would send has had time to leave

    assert writes == []
    assert sessions_stored() == 0
    assert page.evaluate("localStorage.getItem('kefu.visitor')") is None
    assert tab.errors == []


def test_messages_written_before_the_visitor_is_signed_up_are_stored_once_in_order(
        stack: Stack, fresh: None, widget_tab: OpenWidget, connect: Any):
    from playwright.sync_api import expect

    alice, _ = online_agent(stack, connect, "Alice")
    tab = widget_tab(f"{SHOP}/early.html", html=shop_page(widget_tag(stack)))
    page = tab.page
    held: list[Any] = []
    page.route(f"{stack.rest_url}/api/visitors", lambda route: held.append(route))  # the sign-up waits
    open_panel(page)
    page.get_by_test_id("kefu-start").click()
    texts = ["first", "second", "third"]
    for text in texts:
        page.get_by_test_id("kefu-input").fill(text)
        page.get_by_test_id("kefu-input").press("Enter")
    expect(page.locator("[data-testid=kefu-message][data-client-msg-id] .kefu-meta")).to_have_text(["Sending…"] * 3)
    assert sessions_stored() == 0  # nothing yet: the sign-up has not even reached the server

    page.wait_for_timeout(0)
    assert len(held) == 1  # one sign-up for the three
    held[0].continue_()
    page.unroute(f"{stack.rest_url}/api/visitors")
    expect(page.get_by_test_id("kefu-status")).to_have_text("You are chatting with Alice")
    expect(page.locator("[data-testid=kefu-message][data-sender=visitor][data-id] .kefu-meta")).to_have_count(3)
    expect(shown_texts(page, "visitor")).to_have_text(texts)

    session_id = page.evaluate("JSON.parse(localStorage.getItem('kefu.conversation')).session_id")
    stored = stored_messages(stack, alice.token, session_id)
    assert [m["text"] for m in stored if m["sender"]["type"] == "visitor"] == texts
    assert sessions_stored() == 1
    session = api(stack, "GET", f"/api/sessions/{session_id}", alice.token).json()
    assert session["context"]["url"] == f"{SHOP}/early.html" and session["context"]["title"] == "Shop"
    assert session["context"]["language"] and session["context"]["timezone"]
    assert tab.errors == []


def test_without_pre_chat_fields_the_widget_opens_on_the_composer(
        stack: Stack, fresh: None, widget_tab: OpenWidget):
    from playwright.sync_api import expect

    tab = widget_tab(f"{SHOP}/direct.html", html=shop_page(widget_tag(stack, prechat_name="off", prechat_email="off")))
    page = tab.page
    open_panel(page)
    expect(page.get_by_test_id("kefu-prechat")).to_be_hidden()
    expect(page.get_by_test_id("kefu-input")).to_be_focused()
    assert tab.errors == []


def test_a_required_email_is_asked_before_the_chat_and_reaches_the_visitors_profile(
        stack: Stack, fresh: None, widget_tab: OpenWidget):
    from playwright.sync_api import expect

    admin = admin_token(stack)
    saved = api(stack, "PUT", "/api/widget/settings", admin,
                json={"prechat": {"name": "required", "email": "required"}})
    assert saved.status_code == 200, saved.text
    tab = widget_tab(f"{SHOP}/required.html", html=shop_page(widget_tag(stack)))
    page = tab.page
    open_panel(page)
    expect(page.get_by_label("Your name", exact=True)).to_be_visible()
    page.get_by_test_id("kefu-start").click()
    expect(page.get_by_role("alert")).to_have_text("Please enter your name.")
    page.get_by_test_id("kefu-name").fill("Ann")
    page.get_by_test_id("kefu-prechat-email").fill("not an email")
    page.get_by_test_id("kefu-start").click()
    expect(page.get_by_role("alert")).to_have_text("Please enter a valid email address.")
    page.get_by_test_id("kefu-prechat-email").fill("ann@example.com")
    page.get_by_test_id("kefu-start").click()
    page.get_by_test_id("kefu-input").fill("Where is my parcel?")
    page.get_by_test_id("kefu-send").click()
    expect(page.locator("[data-testid=kefu-message][data-sender=visitor][data-id]")).to_have_count(1)
    me = api(stack, "GET", "/api/visitors/me", visitor_token(page)).json()
    assert (me["name"], me["email"]) == ("Ann", "ann@example.com")
    assert tab.errors == []


def test_a_page_that_hides_a_field_the_server_requires_asks_for_it_when_the_message_is_refused(
        stack: Stack, fresh: None, widget_tab: OpenWidget):
    from playwright.sync_api import expect

    admin = admin_token(stack)
    saved = api(stack, "PUT", "/api/widget/settings", admin, json={"prechat": {"name": "off", "email": "required"}})
    assert saved.status_code == 200, saved.text
    tab = widget_tab(f"{SHOP}/hidden.html", html=shop_page(widget_tag(stack, prechat_email="off")))
    page = tab.page
    open_panel(page)
    page.get_by_test_id("kefu-input").fill("Hello?")
    page.get_by_test_id("kefu-send").click()
    # Refused (prechat_required) and kept, not dropped: the pre-chat step asks for the email.
    expect(page.get_by_test_id("kefu-prechat-email")).to_be_visible()
    assert sessions_stored() == 0
    page.get_by_test_id("kefu-prechat-email").fill("late@example.com")
    page.get_by_test_id("kefu-start").click()
    expect(page.locator("[data-testid=kefu-message][data-sender=visitor][data-id] .kefu-text")).to_have_text(["Hello?"])
    assert api(stack, "GET", "/api/visitors/me", visitor_token(page)).json()["email"] == "late@example.com"
    assert all("422" in e for e in tab.errors), tab.errors
