"""The widget lives in a shop's page and must not care what that page does: the shop's CSS does not
reach it (shadow root), and a strict Content-Security-Policy that allows only the widget's origin
(no inline script or style) leaves it working."""

from __future__ import annotations

import json
from typing import Any

from devstack import Stack
from tests.e2e.widget_support import SHOP, OpenWidget, open_panel, shop_page, widget_tag, write

HOSTILE = ("<style>button{text-transform:uppercase;background:#000;color:#fff;font-weight:bold}"
           "span{font-weight:bold} li{list-style:square;font-style:italic} *{letter-spacing:3px}"
           "body{font:30px/3 serif;color:red;text-align:right}</style>")
PROPERTIES = ["text-transform", "font-weight", "font-size", "font-family", "font-style", "letter-spacing",
              "color", "background-color", "line-height", "text-align"]
READ_STYLES = f"""(nodes) => nodes.map((node) => {{
    const style = getComputedStyle(node);
    return Object.fromEntries({json.dumps(PROPERTIES)}.map((name) => [name, style.getPropertyValue(name)]));
}})"""


def widget_styles(page: Any) -> dict[str, Any]:
    """The computed styles of the launcher, a button and a span of the panel and a message bubble."""
    return {
        "launcher": page.get_by_test_id("kefu-launcher").evaluate_all(READ_STYLES),
        "buttons": page.locator("[data-testid=kefu-panel] button").evaluate_all(READ_STYLES),
        "message": page.locator("[data-testid=kefu-message] .kefu-text").evaluate_all(READ_STYLES),
        "status": page.get_by_test_id("kefu-status").evaluate_all(READ_STYLES),
    }


def test_a_shops_hostile_css_leaves_the_widgets_computed_styles_unchanged(
        stack: Stack, fresh: None, widget_tab: OpenWidget):
    from playwright.sync_api import expect

    styles = []
    for head in ("", HOSTILE):
        tab = widget_tab(f"{SHOP}/page.html", html=shop_page(widget_tag(stack), head=head))
        page = tab.page
        open_panel(page)
        write(page, "Hello from a shop")
        expect(page.locator("[data-testid=kefu-message][data-sender=visitor][data-id]")).to_have_count(1)
        styles.append(widget_styles(page))
        assert tab.errors == []

    plain, hostile = styles
    assert plain["launcher"][0]["text-transform"] == "none"
    assert plain["message"][0]["font-weight"] == "400"
    assert hostile == plain
    # The host's rules do reach the host's own elements: the page is hostile indeed.
    assert page.locator("h1").evaluate("(h) => getComputedStyle(h).letterSpacing") == "3px"


def test_the_widget_works_under_a_strict_content_security_policy(
        stack: Stack, fresh: None, widget_tab: OpenWidget, connect: Any):
    from playwright.sync_api import expect

    from tests.e2e.protocol_helpers import api, online_agent

    alice, _ = online_agent(stack, connect, "Alice")

    # What docs/hosting.md tells a shop to allow, and nothing else: no 'unsafe-inline' anywhere.
    policy = (f"default-src 'none'; script-src {stack.rest_url}; connect-src {stack.rest_url} {stack.ws_url}; "
              f"img-src {stack.rest_url} blob: data:; style-src 'none'; base-uri 'none'; form-action 'none'")
    watch = ("document.addEventListener('securitypolicyviolation', (e) => "
             "(window.__violations = window.__violations || []).push(e.violatedDirective + ' ' + e.blockedURI))")
    tab = widget_tab(f"{SHOP}/strict.html", html=shop_page(widget_tag(stack)),
                     headers={"Content-Security-Policy": policy})
    page = tab.page
    page.add_init_script(watch)
    page.reload()
    open_panel(page)
    # Styled: the adopted stylesheet applies (a launcher without it would be a grey native button).
    assert page.get_by_test_id("kefu-launcher").evaluate("(b) => getComputedStyle(b).borderTopLeftRadius") == "28px"
    write(page, "Hello under a strict CSP")
    expect(page.locator("[data-testid=kefu-message][data-sender=visitor][data-id]")).to_have_count(1)
    expect(page.get_by_test_id("kefu-status")).to_have_text("You are chatting with Alice")
    session_id = page.evaluate("JSON.parse(localStorage.getItem('kefu.conversation')).session_id")
    answered = api(stack, "POST", f"/api/sessions/{session_id}/messages", alice.token,
                   json={"text": "We are here", "client_msg_id": "csp-1"})
    assert answered.status_code == 201, answered.text
    expect(page.locator("[data-testid=kefu-message][data-sender=agent] .kefu-text")).to_have_text(["We are here"])
    assert page.evaluate("window.__violations || []") == []
    assert tab.errors == []
