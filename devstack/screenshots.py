"""``python -m devstack.screenshots``: the README's pictures of the widget and the console, taken
from a fresh local stack (free ports, nothing kept) in headless Chromium, so they never go stale.

Writes ``docs/screenshot-widget.png`` and ``docs/screenshot-console.png``. Needs ``chromium``
(``apt-get install chromium``) and Playwright from requirements-dev.txt.
"""

from __future__ import annotations

import sys

from devstack.environment import PROJECT_DIR

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "screenshot password"


def main() -> int:
    from playwright.sync_api import expect, sync_playwright

    from devstack.stack import Stack

    with Stack() as stack:
        from chalicelib.services import agents

        agents.create_agent("alice", PASSWORD, display_name="Alice")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            agent = browser.new_context(viewport={"width": 1100, "height": 620}).new_page()
            agent.goto(stack.console_url)
            agent.get_by_test_id("login-username").fill("alice")
            agent.get_by_test_id("login-password").fill(PASSWORD)
            agent.get_by_test_id("login-submit").click()
            expect(agent.locator("#live.on")).to_be_visible()
            with agent.expect_response(lambda r: r.url.endswith("/api/agents/me/status")):
                agent.get_by_test_id("agent-status").select_option("online")

            customer = browser.new_context(viewport={"width": 900, "height": 620}).new_page()
            customer.goto(stack.widget_url)
            customer.get_by_test_id("kefu-launcher").click()
            customer.get_by_test_id("kefu-name").fill("Ann")
            customer.get_by_test_id("kefu-start").click()
            expect(customer.get_by_test_id("kefu-status")).to_contain_text("Alice")
            customer.get_by_test_id("kefu-input").fill("Hi! My order #1042 hasn't arrived yet.")
            customer.get_by_test_id("kefu-send").click()
            agent.get_by_test_id("session-item").click()
            expect(agent.get_by_test_id("message")).to_have_count(1)
            agent.get_by_test_id("message-input").fill("Sorry about that, Ann! Let me check.")
            agent.get_by_test_id("message-send").click()
            expect(customer.locator("[data-testid=kefu-message][data-sender=agent]")).to_have_count(1)
            customer.get_by_test_id("kefu-input").fill("Thanks")
            expect(agent.get_by_test_id("typing-indicator")).to_be_visible()
            agent.screenshot(path=str(PROJECT_DIR / "docs" / "screenshot-console.png"))
            customer.screenshot(path=str(PROJECT_DIR / "docs" / "screenshot-widget.png"))
            browser.close()
    sys.stdout.write("wrote docs/screenshot-widget.png and docs/screenshot-console.png\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
