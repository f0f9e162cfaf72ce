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
