"""What the widget's browser tests share: a Chromium tab per visitor (with its locale and viewport),
host pages of a shop served by the browser itself (any origin, any headers: hostile CSS, a strict
CSP, an origin the API refuses), and short-cuts through the widget's panel.

Its fixture (``widget_tab``, on the suite's ``chromium``) is made visible to every test by
tests/e2e/conftest.py. The widget renders in an open shadow root; Playwright's CSS selectors pierce
open shadow roots, so ``page.get_by_test_id("kefu-launcher")`` finds it as if it were in the page.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib.models import SessionModel
from devstack import Stack
from tests.e2e.test_web_ui import WAIT_MS, Tab

# A shop's origin that the local stack's KEFU_CORS_ORIGINS (http://localhost:*) admits; the browser
# serves its pages (``route``), so nothing listens there.
SHOP = "http://localhost:5173"
# One that it does not admit (https: Chromium lets only secure pages reach a loopback address).
STRANGER = "https://shop.example"


def widget_tag(stack: Stack, **data: str) -> str:
    """The script tag a shop puts on its pages, with extra ``data-*`` attributes."""
    extra = "".join(f' data-{name.replace("_", "-")}="{value}"' for name, value in data.items())
    return (f'<script src="{stack.rest_url}/widget.js" data-api="{stack.rest_url}" '
            f'data-ws="{stack.ws_url}"{extra}></script>')


def shop_page(body: str = "", head: str = "") -> str:
    return ("<!doctype html><html><head><meta charset=utf-8>"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Shop</title>{head}</head>"
            f"<body><h1>Shop</h1>{body}</body></html>")


OpenWidget = Callable[..., Tab]


def png(width: int = 2, height: int = 2) -> bytes:
    """A real PNG image (red pixels)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


TINY_PNG = png()


@pytest.fixture
def widget_tab(chromium: Any) -> Iterator[OpenWidget]:
    """``widget_tab(url, html=None, headers=None, images=(), **context_options)``: a new browser
    context (its own localStorage: one visitor) on ``url``; with ``html`` the browser itself serves
    that page at ``url`` with ``headers`` (a shop's page on any origin), and a small PNG at each of
    ``images`` from before the page loads (an avatar the widget may show at once)."""
    contexts = []

    def open_(url: str, html: str | None = None, headers: dict[str, str] | None = None,
              images: tuple[str, ...] = (), **options: Any) -> Tab:
        # The shop's pages come from no address at all (the browser serves them) and call the stack on
        # the loopback address: Chromium asks for that permission, as a visitor would be asked.
        context = chromium.new_context(**{"permissions": ["local-network-access"], **options})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        tab = Tab(page)
        page.on("console", lambda m: tab.record(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: tab.record(f"uncaught: {e}"))
        if html is not None:
            serve(page, url, html, headers)
        for image in images:
            context.route(image, lambda route: route.fulfill(status=200, body=TINY_PNG, content_type="image/png"))
        page.goto(url)
        return tab

    yield open_
    for context in contexts:
        context.close()


def serve(page: Any, url: str, html: str, headers: dict[str, str] | None = None) -> None:
    """Let the browser answer ``url`` with ``html`` (and ``headers``), every time it is loaded, in
    every page of ``page``'s context (the same visitor coming back in a new tab)."""
    page.context.route(url, lambda route: route.fulfill(status=200, body=html, headers={
        "Content-Type": "text/html; charset=utf-8", **(headers or {})}))


def sessions_stored() -> int:
    """Every session in the sessions table, whatever its state (a consistent scan: a test table)."""
    return sum(1 for _ in SessionModel.scan(consistent_read=True))


def open_panel(page: Any) -> None:
    from playwright.sync_api import expect

    page.get_by_test_id("kefu-launcher").click()
    expect(page.get_by_test_id("kefu-panel")).to_be_visible()


def write(page: Any, text: str) -> None:
    """Type a message in the composer and send it (past the pre-chat step when it shows)."""
    start = page.get_by_test_id("kefu-start")
    if start.is_visible():
        start.click()
    page.get_by_test_id("kefu-input").fill(text)
    page.get_by_test_id("kefu-send").click()


def shown_texts(page: Any, sender: str | None = None) -> Any:
    selector = "[data-testid=kefu-message]" + (f"[data-sender={sender}]" if sender else "")
    return page.locator(f"{selector} .kefu-text")
