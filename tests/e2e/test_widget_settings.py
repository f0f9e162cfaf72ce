"""Settings without redeploying: the widget reads GET /api/widget/settings (colour, position,
greeting, offline text, avatar, pre-chat fields) on every page load; the script tag's data-*
attributes override them for one page. And a page whose origin the API refuses is told why in the
console, naming KEFU_CORS_ORIGINS."""

from __future__ import annotations

from typing import Any

from devstack import Stack
from tests.e2e.protocol_helpers import admin_token, api
from tests.e2e.widget_support import SHOP, STRANGER, OpenWidget, open_panel, shop_page, widget_tag, write

DESKTOP = {"width": 1000, "height": 700}


def launcher_look(page: Any) -> tuple[str, float]:
    """The launcher's colour and the x of its middle."""
    from playwright.sync_api import expect

    launcher = page.get_by_test_id("kefu-launcher")
    expect(launcher).to_be_visible()
    box = launcher.bounding_box()
    assert box is not None
    return launcher.evaluate("(b) => getComputedStyle(b).backgroundColor"), box["x"] + box["width"] / 2


def test_settings_changed_by_an_admin_apply_on_the_next_page_load(
        stack: Stack, fresh: None, widget_tab: OpenWidget):
    from playwright.sync_api import expect

    page = widget_tab(f"{SHOP}/before.html", html=shop_page(widget_tag(stack)), viewport=DESKTOP).page
    colour, middle = launcher_look(page)
    assert colour == "rgb(47, 111, 237)" and middle > 500  # the defaults: blue, on the right

    admin = admin_token(stack)
    saved = api(stack, "PUT", "/api/widget/settings", admin, json={
        "color": "#e4572e", "position": "left", "greeting": "Hello from the settings",
        "prechat": {"name": "off", "email": "optional"}})
    assert saved.status_code == 200, saved.text
    page = widget_tab(f"{SHOP}/after.html", html=shop_page(widget_tag(stack)), viewport=DESKTOP).page
    colour, middle = launcher_look(page)
    assert colour == "rgb(228, 87, 46)" and middle < 500
    open_panel(page)
    expect(page.get_by_test_id("kefu-greeting")).to_have_text("Hello from the settings")
    expect(page.get_by_test_id("kefu-name")).to_be_hidden()
    expect(page.get_by_test_id("kefu-prechat-email")).to_be_visible()


def test_the_tags_data_attributes_override_the_settings_for_one_page(
        stack: Stack, fresh: None, widget_tab: OpenWidget):
    from playwright.sync_api import expect

    admin = admin_token(stack)
    assert api(stack, "PUT", "/api/widget/settings", admin, json={
        "color": "#e4572e", "position": "left", "greeting": "Hello from the settings"}).status_code == 200
    tag = widget_tag(stack, color="#008000", position="right", greeting="Only on this page", title="Returns desk",
                     prechat_name="off", prechat_email="off")
    page = widget_tab(f"{SHOP}/override.html", html=shop_page(tag), viewport=DESKTOP).page
    colour, middle = launcher_look(page)
    assert colour == "rgb(0, 128, 0)" and middle > 500
    open_panel(page)
    expect(page.locator("[data-testid=kefu-panel] h2")).to_have_text("Returns desk")
    expect(page.locator("[data-testid=kefu-message][data-kind=greeting] .kefu-text")).to_have_text(
        ["Only on this page"])


def test_a_page_on_an_origin_the_api_refuses_names_kefu_cors_origins_in_the_console(
        stack: Stack, fresh: None, widget_tab: OpenWidget):
    from playwright.sync_api import expect

    tab = widget_tab(f"{STRANGER}/shop.html", html=shop_page(widget_tag(stack)))
    page = tab.page
    expect(page.get_by_test_id("kefu-launcher")).to_be_visible()
    hint = [e for e in tab.errors if "KEFU_CORS_ORIGINS" in e]
    assert len(hint) == 1 and STRANGER in hint[0], tab.errors
    open_panel(page)
    write(page, "Hello?")
    expect(page.get_by_test_id("kefu-status")).to_have_text("Could not reach us, please try again.")
    assert len([e for e in tab.errors if "KEFU_CORS_ORIGINS" in e]) == 1  # said once
