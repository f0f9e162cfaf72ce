"""Phones and keyboards: below 480 px the open widget fills the screen; every input has a label;
opening moves the focus into the panel; Esc closes it and the focus returns to the launcher."""

from __future__ import annotations

from devstack import Stack
from tests.e2e.widget_support import SHOP, OpenWidget, open_panel, shop_page, widget_tag


def test_on_a_375_px_phone_the_open_widget_fills_the_screen(stack: Stack, widget_tab: OpenWidget):
    page = widget_tab(f"{SHOP}/phone.html", html=shop_page(widget_tag(stack)),
                      viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True).page
    open_panel(page)
    box = page.get_by_test_id("kefu-panel").bounding_box()
    assert box == {"x": 0, "y": 0, "width": 375, "height": 667}
    page.get_by_test_id("kefu-close").click()  # the launcher is under the panel: the header closes it
    assert not page.get_by_test_id("kefu-panel").is_visible()


def test_on_a_desktop_the_open_widget_is_a_panel_in_the_corner(stack: Stack, widget_tab: OpenWidget):
    page = widget_tab(f"{SHOP}/desk.html", html=shop_page(widget_tag(stack)),
                      viewport={"width": 1280, "height": 800}).page
    open_panel(page)
    box = page.get_by_test_id("kefu-panel").bounding_box()
    assert box is not None and box["width"] < 480 and box["x"] + box["width"] <= 1280 - 10


def test_opening_focuses_the_panel_and_escape_gives_the_focus_back_to_the_launcher(
        stack: Stack, fresh: None, widget_tab: OpenWidget):
    from playwright.sync_api import expect

    page = widget_tab(f"{SHOP}/keys.html", html=shop_page(widget_tag(stack))).page
    launcher = page.get_by_test_id("kefu-launcher")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    launcher.focus()
    page.keyboard.press("Enter")  # keyboard only
    expect(page.get_by_test_id("kefu-panel")).to_be_visible()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_test_id("kefu-name")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("kefu-panel")).to_be_hidden()
    expect(launcher).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "false")

    launcher.click()
    page.get_by_test_id("kefu-start").click()
    expect(page.get_by_test_id("kefu-input")).to_be_focused()
    page.keyboard.press("Escape")
    expect(launcher).to_be_focused()
    launcher.click()  # reopened past the pre-chat step: straight into the composer
    expect(page.get_by_test_id("kefu-input")).to_be_focused()


def test_every_input_has_a_label(stack: Stack, fresh: None, widget_tab: OpenWidget):
    from playwright.sync_api import expect

    page = widget_tab(f"{SHOP}/labels.html", html=shop_page(widget_tag(stack, prechat_email="optional"))).page
    open_panel(page)
    expect(page.get_by_label("Your name (optional)")).to_have_attribute("data-testid", "kefu-name")
    expect(page.get_by_label("Your email (optional)")).to_have_attribute("data-testid", "kefu-prechat-email")
    page.get_by_test_id("kefu-start").click()
    expect(page.get_by_label("Message", exact=True)).to_have_attribute("data-testid", "kefu-input")
    expect(page.get_by_label("Attach a file (PNG, JPEG, GIF, WebP or PDF, up to 10 MB)")).to_have_attribute(
        "data-testid", "kefu-attach")
    # Every control of the panel has an accessible name (a label, aria-label or its text).
    unnamed = page.evaluate("""() => {
        const root = document.querySelector('kefu-widget').shadowRoot;
        return [...root.querySelectorAll('input, textarea, select')]
            .filter((c) => !(c.labels && c.labels.length) && !c.getAttribute('aria-label'))
            .map((c) => c.outerHTML);
    }""")
    assert unnamed == []
