"""``python -m devstack.screenshots``: the README's pictures of the widget and the console, taken
from a fresh local stack (free ports, nothing kept) in headless Chromium, so they never go stale.

Writes ``docs/screenshot-widget.png`` (a chat: greeting, times, the agent's name and avatar, an
image), ``docs/screenshot-widget-away.png`` (nobody online: the away note and the email field),
``docs/screenshot-widget-phone.png`` (the open widget filling a 375 px phone),
``docs/screenshot-widget-zh.png`` (a Chinese browser's widget: its glyphs need a CJK font,
``apt-get install fonts-noto-cjk``) and ``docs/screenshot-console.png``. Needs ``chromium``
(``apt-get install chromium``) and Playwright from requirements-dev.txt.
"""

from __future__ import annotations

import struct
import sys
import zlib
from typing import Any

from devstack.environment import PROJECT_DIR

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "screenshot password"
DOCS = PROJECT_DIR / "docs"
# Served by the browser itself (nothing listens there): the shop's avatar for its agents.
AVATAR = "https://cdn.shop.example/avatar.png"
GREETING = "Hi! Questions about an order? We usually answer within minutes."


def png(width: int, height: int, pixel: tuple[int, int, int]) -> bytes:
    """A plain PNG of one colour (no imaging library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(pixel) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def main() -> int:
    import requests
    from playwright.sync_api import expect, sync_playwright

    from devstack.stack import Stack

    with Stack() as stack:
        from chalicelib.services import agents, widget_settings

        widget_settings.replace({"greeting": GREETING, "avatar_url": AVATAR}, "screenshots")
        agents.create_agent("alice", PASSWORD, display_name="Alice")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)

            def visitor(**options: Any) -> Any:  # a new visitor (own storage) on the demo page
                context = browser.new_context(**options)
                context.route(AVATAR, lambda route: route.fulfill(
                    status=200, body=png(48, 48, (16, 185, 129)), content_type="image/png"))
                page = context.new_page()
                page.goto(stack.widget_url)
                page.get_by_test_id("kefu-launcher").click()
                return page

            # Nobody online yet: the widget says so before anyone writes.
            away = visitor(viewport={"width": 900, "height": 620})
            expect(away.get_by_test_id("kefu-offline")).to_be_visible()
            away.get_by_test_id("kefu-start").click()
            away.get_by_test_id("kefu-email").fill("ann@example.com")
            away.get_by_test_id("kefu-input").fill("Do you ship to Norway?")
            away.screenshot(path=str(DOCS / "screenshot-widget-away.png"))

            agent = browser.new_context(viewport={"width": 1100, "height": 620}).new_page()
            agent.goto(stack.console_url)
            agent.get_by_test_id("login-username").fill("alice")
            agent.get_by_test_id("login-password").fill(PASSWORD)
            agent.get_by_test_id("login-submit").click()
            expect(agent.locator("#live.on")).to_be_visible()
            with agent.expect_response(lambda r: r.url.endswith("/api/agents/me/status")):
                agent.get_by_test_id("agent-status").select_option("online")
            token = requests.post(f"{stack.rest_url}/api/auth/login", timeout=10, json={
                "username": "alice", "password": PASSWORD}).json()["token"]  # for the agent's picture

            customer = visitor(viewport={"width": 900, "height": 620})
            customer.get_by_test_id("kefu-name").fill("Ann")
            customer.get_by_test_id("kefu-start").click()
            customer.get_by_test_id("kefu-input").fill("Hi! My order #1042 hasn't arrived yet.")
            customer.get_by_test_id("kefu-send").click()
            expect(customer.get_by_test_id("kefu-status")).to_contain_text("Alice")
            agent.get_by_test_id("session-item").click()
            expect(agent.get_by_test_id("message").filter(has_text="#1042")).to_be_visible()
            agent.get_by_test_id("message-input").fill("Sorry about that, Ann! It left our depot today:")
            agent.get_by_test_id("message-send").click()
            expect(customer.locator("[data-testid=kefu-message][data-sender=agent]")).to_have_count(1)
            session_id = customer.evaluate("JSON.parse(localStorage.getItem('kefu.conversation')).session_id")
            customer.get_by_test_id("kefu-input").fill("Thanks")
            expect(agent.get_by_test_id("typing-indicator")).to_be_visible()
            agent.screenshot(path=str(DOCS / "screenshot-console.png"))
            send_image(stack.rest_url, token, session_id, requests)
            image = customer.locator("[data-testid=kefu-message][data-sender=agent] [data-testid=kefu-attachment] img")
            expect(image).to_have_js_property("complete", True)
            customer.screenshot(path=str(DOCS / "screenshot-widget.png"))

            phone = visitor(viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True)
            phone.get_by_test_id("kefu-start").click()
            phone.get_by_test_id("kefu-input").fill("Can I change the delivery address?")
            phone.screenshot(path=str(DOCS / "screenshot-widget-phone.png"))

            chinese = visitor(viewport={"width": 900, "height": 620}, locale="zh-CN")
            chinese.get_by_test_id("kefu-name").fill("王芳")
            chinese.get_by_test_id("kefu-start").click()
            chinese.get_by_test_id("kefu-input").fill("你好！我想把收货地址改到上海。")
            chinese.get_by_test_id("kefu-send").click()
            expect(chinese.get_by_test_id("kefu-status")).to_contain_text("Alice")
            agent.get_by_test_id("session-item").filter(has_text="王芳").click()
            agent.get_by_test_id("message-input").fill("好的，请告诉我新的地址。")
            agent.get_by_test_id("message-send").click()
            expect(chinese.locator("[data-testid=kefu-message][data-sender=agent]")).to_have_count(1)
            chinese.screenshot(path=str(DOCS / "screenshot-widget-zh.png"))
            browser.close()
    for name in ("widget", "widget-away", "widget-phone", "widget-zh", "console"):
        sys.stdout.write(f"wrote docs/screenshot-{name}.png\n")
    return 0


def send_image(rest_url: str, token: str, session_id: str, requests: Any) -> None:
    """The agent sends a picture the way the console does: presigned POST to S3, then the message."""
    picture = png(240, 120, (250, 204, 21))
    headers = {"Authorization": f"Bearer {token}"}
    asked = requests.post(f"{rest_url}/api/attachments", headers=headers, timeout=10, json={
        "filename": "tracking.png", "content_type": "image/png", "size": len(picture), "session_id": session_id})
    asked.raise_for_status()
    upload = asked.json()["upload"]
    requests.post(upload["url"], data=upload["fields"], timeout=10,
                  files={"file": ("tracking.png", picture, "image/png")}).raise_for_status()
    requests.post(f"{rest_url}/api/sessions/{session_id}/messages", headers=headers, timeout=10, json={
        "text": "", "attachment_id": asked.json()["attachment_id"], "client_msg_id": "screenshot-image"},
    ).raise_for_status()


if __name__ == "__main__":
    raise SystemExit(main())
