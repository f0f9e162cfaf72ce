"""identify: ``window.kefu('identify', {user_id, name, email, attributes, user_hash})``, a command
queue as Intercom's: calls made before the widget's script loads are kept and run when it does. A
good user_hash (HMAC-SHA256 of user_id, computed by the shop's server) makes one verified visitor
across devices; without it the identity is stored unverified and never merged."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.services.identity import user_hash
from devstack import Stack
from tests.e2e.conftest import wait_for
from tests.e2e.protocol_helpers import api, online_agent
from tests.e2e.widget_support import SHOP, OpenWidget, open_panel, shop_page, widget_tag, write


def identified_page(stack: Stack, traits: dict[str, Any]) -> str:
    """A shop page that identifies its logged-in customer before the widget's script is loaded."""
    snippet = ("<script>window.kefu = window.kefu || function () {"
               " (window.kefu.q = window.kefu.q || []).push(arguments); };"
               f" kefu('identify', {json.dumps(traits)});</script>")
    return shop_page(snippet + widget_tag(stack))


def visitor_of(stack: Stack, page: Any) -> dict[str, Any]:
    token = wait_for(lambda: page.evaluate("(JSON.parse(localStorage.getItem('kefu.visitor')) || {}).token"))
    me = api(stack, "GET", "/api/visitors/me", token)
    assert me.status_code == 200, me.text
    return dict(me.json())


def test_identify_called_before_the_script_loads_makes_one_verified_visitor_across_devices(
        stack: Stack, fresh: None, widget_tab: OpenWidget, connect: Any):
    from playwright.sync_api import expect

    alice, _ = online_agent(stack, connect, "Alice")
    traits = {"user_id": "cust-42", "name": "Ann Lee", "email": "ann@example.com",
              "attributes": {"plan": "gold", "orders": 7}, "user_hash": user_hash("cust-42")}
    laptop = widget_tab(f"{SHOP}/account.html", html=identified_page(stack, traits))
    me = visitor_of(stack, laptop.page)
    assert (me["user_id"], me["verified"], me["name"], me["email"]) == ("cust-42", True, "Ann Lee", "ann@example.com")
    assert me["attributes"] == {"plan": "gold", "orders": 7}
    open_panel(laptop.page)
    expect(laptop.page.get_by_test_id("kefu-composer")).to_be_visible()  # known: no pre-chat step
    write(laptop.page, "Where is order 1042?")
    expect(laptop.page.get_by_test_id("kefu-status")).to_have_text("You are chatting with Alice")
    session_id = laptop.page.evaluate("JSON.parse(localStorage.getItem('kefu.conversation')).session_id")
    session = api(stack, "GET", f"/api/sessions/{session_id}", alice.token).json()
    assert session["identity"] == {"email": "ann@example.com", "user_id": "cust-42", "verified": True}

    # The same customer on their phone: the same visitor, and the conversation follows them.
    phone = widget_tab(f"{SHOP}/account.html", html=identified_page(stack, traits))
    assert visitor_of(stack, phone.page)["visitor_id"] == me["visitor_id"]
    open_panel(phone.page)
    expect(phone.page.locator("[data-testid=kefu-message][data-sender=visitor] .kefu-text")).to_have_text(
        ["Where is order 1042?"])
    assert laptop.errors == [] and phone.errors == []


def test_an_identity_without_a_hash_is_unverified_and_never_merged(
        stack: Stack, fresh: None, widget_tab: OpenWidget):
    traits = {"user_id": "cust-7", "name": "Bo"}
    first = visitor_of(stack, widget_tab(f"{SHOP}/a.html", html=identified_page(stack, traits)).page)
    second = visitor_of(stack, widget_tab(f"{SHOP}/b.html", html=identified_page(stack, traits)).page)
    assert (first["user_id"], first["verified"]) == ("cust-7", False)
    assert (second["user_id"], second["verified"]) == ("cust-7", False)
    assert first["visitor_id"] != second["visitor_id"]


def test_identify_after_the_widget_loaded_and_a_wrong_hash_is_refused_in_the_console(
        stack: Stack, fresh: None, widget_tab: OpenWidget):
    from playwright.sync_api import expect

    tab = widget_tab(f"{SHOP}/late.html", html=shop_page(widget_tag(stack)))
    page = tab.page
    expect(page.get_by_test_id("kefu-launcher")).to_be_visible()
    with page.expect_console_message(lambda m: "identify was refused (invalid_user_hash)" in m.text):
        page.evaluate("kefu('identify', {user_id: 'cust-9', user_hash: 'not-the-hash'})")
    assert page.evaluate("localStorage.getItem('kefu.visitor')") is None  # nothing stored for a forged identity
    page.evaluate(f"kefu('identify', {{user_id: 'cust-9', user_hash: {json.dumps(user_hash('cust-9'))}}})")
    assert visitor_of(stack, page)["verified"] is True
