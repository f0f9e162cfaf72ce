"""The pages the local stack serves carry the headers CloudFront sends in AWS (infra/web_headers.py):
a CSP that loads scripts and styles from the page's own origin only, lets scripts talk only to the
API and the WebSocket, and forbids framing; nosniff, a referrer policy and a permissions policy."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests

from devstack import Stack

PAGES = ["/", "/console/", "/console/app.js", "/widget.js", "/demo.css"]


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.mark.parametrize("path", PAGES)
def test_every_page_is_served_with_the_security_headers(stack: Stack, path: str):
    response = requests.get(f"{stack.rest_url}{path}", timeout=10)

    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "camera=()" in response.headers["Permissions-Policy"]
    assert "microphone=()" in response.headers["Permissions-Policy"]
    assert "Content-Security-Policy" in response.headers


@pytest.mark.parametrize("path", ["/", "/console/"])
def test_the_csp_allows_own_scripts_the_api_and_the_socket_and_no_framing(stack: Stack, path: str):
    policy = directives(requests.get(f"{stack.rest_url}{path}", timeout=10).headers["Content-Security-Policy"])

    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    connect = set(policy["connect-src"])
    assert {"'self'", origin(stack.ws_url)} <= connect
    assert connect - {"'self'", origin(stack.ws_url), origin(stack.rest_url)} <= _attachment_origins()
    assert "*" not in connect and not any("unsafe" in v for values in policy.values() for v in values)


def _attachment_origins() -> set[str]:
    import os

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3")
    return {origin(endpoint)} if endpoint else set()


def test_a_missing_page_and_the_console_redirect_carry_them_too(stack: Stack):
    missing = requests.get(f"{stack.rest_url}/console/nope.js", timeout=10)
    redirect = requests.get(f"{stack.rest_url}/console", timeout=10, allow_redirects=False)

    for response in (missing, redirect):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_the_demo_page_has_no_inline_style_or_script_its_csp_would_block(stack: Stack):
    page = requests.get(f"{stack.rest_url}/", timeout=10).text

    assert "<style" not in page
    assert "style=" not in page
    assert all("src=" in tag for tag in page.split("<script")[1:])


# -- the pages still work under that CSP (a real browser) --------------------------------------------

from tests.e2e.test_web_ui import browser  # noqa: E402,F401  (headless Chromium, shared with the UI tests)

REPORT_VIOLATIONS = """window.__violations = [];
document.addEventListener("securitypolicyviolation",
    (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));"""


def test_the_widget_and_the_console_work_under_their_strict_csp(stack: Stack, admin: str, browser):  # noqa: F811
    """The demo page is a host page with a strict CSP (no inline style or script, connect-src the API
    and the socket only): the widget styles itself, signs up, and sends a message over its socket;
    the console logs in and goes live; the browser refuses nothing."""
    from playwright.sync_api import expect

    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.add_init_script(REPORT_VIOLATIONS)
        uncaught: list[str] = []
        page.on("pageerror", lambda error: uncaught.append(str(error)))
        page.goto(stack.widget_url)
        page.get_by_test_id("kefu-launcher").click()
        page.get_by_test_id("kefu-name").fill("Csp")
        page.get_by_test_id("kefu-start").click()
        page.get_by_test_id("kefu-input").fill("Hello under a strict CSP")
        for _ in range(20):  # a send before the widget knows its session keeps the text: send again
            page.get_by_test_id("kefu-send").click()
            if page.get_by_test_id("kefu-input").input_value() == "":
                break
            page.wait_for_timeout(500)
        expect(page.locator("[data-testid=kefu-message][data-sender=visitor][data-id]")).to_have_count(1)
        expect(page.get_by_test_id("kefu-typing")).to_be_hidden()  # the widget's own stylesheet applies
        assert page.evaluate("window.__violations") == []

        assert stack.admin is not None and stack.admin.password is not None
        page.goto(stack.console_url)
        page.get_by_test_id("login-username").fill(stack.admin.username)
        page.get_by_test_id("login-password").fill(stack.admin.password)
        page.get_by_test_id("login-submit").click()
        expect(page.locator("#live.on")).to_be_visible()  # its socket is open
        assert page.evaluate("window.__violations") == []
        assert uncaught == []
    finally:
        context.close()
