"""Every string of the widget comes from a catalog in English and Simplified Chinese, chosen by the
tag's data-lang, else by the browser's language; times are in the visitor's locale."""

from __future__ import annotations

from typing import Any

from devstack import Stack
from tests.e2e.widget_support import SHOP, OpenWidget, open_panel, shop_page, widget_tag


def test_a_chinese_browser_gets_a_chinese_widget(stack: Stack, fresh: None, widget_tab: OpenWidget):
    from playwright.sync_api import expect

    tab = widget_tab(f"{SHOP}/zh.html", html=shop_page(widget_tag(stack)), locale="zh-CN")
    page = tab.page
    expect(page.get_by_test_id("kefu-launcher")).to_have_text("联系客服")
    open_panel(page)
    expect(page.get_by_test_id("kefu-start")).to_have_text("开始对话")
    expect(page.get_by_label("您的称呼（选填）")).to_be_visible()
    page.get_by_test_id("kefu-start").click()
    expect(page.get_by_test_id("kefu-send")).to_have_text("发送")
    expect(page.get_by_label("消息")).to_have_attribute("placeholder", "请输入消息…")
    assert page.get_by_test_id("kefu-panel").get_attribute("aria-label") == "在线客服"


def test_the_tags_data_lang_wins_over_the_browsers_language(stack: Stack, fresh: None, widget_tab: OpenWidget):
    from playwright.sync_api import expect

    chinese_on_english = widget_tab(f"{SHOP}/a.html", html=shop_page(widget_tag(stack, lang="zh-CN")),
                                    locale="en-US").page
    expect(chinese_on_english.get_by_test_id("kefu-launcher")).to_have_text("联系客服")
    english_on_chinese = widget_tab(f"{SHOP}/b.html", html=shop_page(widget_tag(stack, lang="en")),
                                    locale="zh-CN").page
    expect(english_on_chinese.get_by_test_id("kefu-launcher")).to_have_text("Chat with us")


def test_both_catalogs_hold_every_string(stack: Stack, fresh: None, widget_tab: OpenWidget):
    from playwright.sync_api import expect

    page = widget_tab(f"{SHOP}/c.html", html=shop_page(widget_tag(stack))).page
    expect(page.get_by_test_id("kefu-launcher")).to_be_visible()
    catalogs: dict[str, Any] = page.evaluate("window.__kefu.i18n.CATALOG")
    assert set(catalogs) == {"en", "zh-CN"}
    assert set(catalogs["en"]) == set(catalogs["zh-CN"])
    untranslated = [key for key, text in catalogs["en"].items() if catalogs["zh-CN"][key] == text]
    assert untranslated == []
    # Placeholders survive translation: "{name} joined" must not lose {name} in Chinese.
    import re

    for key, text in catalogs["en"].items():
        assert set(re.findall(r"\{\w+\}", text)) == set(re.findall(r"\{\w+\}", catalogs["zh-CN"][key])), key
