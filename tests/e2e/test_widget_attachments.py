"""Attachments: PNG, JPEG, GIF, WebP and PDF up to 10 MB, uploaded straight to S3 with a presigned
POST and then sent; images previewed in the bubble, PDFs as links; a file that is too large, or an
executable renamed .png (refused by the server, which reads its first bytes), gives a clear message
and is not sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from devstack import Stack
from tests.e2e.conftest import wait_for
from tests.e2e.protocol_helpers import api, online_agent, stored_messages
from tests.e2e.widget_support import SHOP, OpenWidget, open_panel, png, shop_page, widget_tag, write

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
EXECUTABLE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 512  # a Windows program


def chatting(stack: Stack, widget_tab: OpenWidget, connect: Any) -> tuple[Any, Any, str]:
    """A customer chatting with Alice: (tab, alice, session id)."""
    from playwright.sync_api import expect

    alice, _ = online_agent(stack, connect, "Alice")
    tab = widget_tab(f"{SHOP}/files.html", html=shop_page(widget_tag(stack)))
    open_panel(tab.page)
    write(tab.page, "I have a photo of the damage")
    expect(tab.page.get_by_test_id("kefu-status")).to_have_text("You are chatting with Alice")
    session_id = tab.page.evaluate("JSON.parse(localStorage.getItem('kefu.conversation')).session_id")
    return tab, alice, session_id


def test_an_image_is_uploaded_previewed_in_the_bubble_and_stored_as_an_image(
        stack: Stack, fresh: None, widget_tab: OpenWidget, connect: Any):
    from playwright.sync_api import expect

    tab, alice, session_id = chatting(stack, widget_tab, connect)
    page = tab.page
    image = png()
    page.get_by_test_id("kefu-attach").set_input_files(
        {"name": "damage.png", "mimeType": "image/png", "buffer": image})
    stored = page.locator("[data-testid=kefu-message][data-sender=visitor][data-id] [data-testid=kefu-attachment] img")
    expect(stored).to_have_count(1)
    expect(stored).to_have_attribute("alt", "damage.png")
    # The presigned GET really serves the picture.
    expect(stored).to_have_js_property("complete", True)
    expect(stored).to_have_js_property("naturalWidth", 2)

    # The agent gets it as an image (the console helper renders it; here through the agent's REST history).
    sent = [m for m in stored_messages(stack, alice.token, session_id) if m.get("attachment")]
    assert len(sent) == 1
    attachment = sent[0]["attachment"]
    assert attachment["name"] == "damage.png" and attachment["content_type"] == "image/png"
    assert attachment["size"] == len(image)
    assert requests.get(attachment["url"], timeout=10).content == image
    assert tab.errors == []


def agent_sends_file(stack: Stack, token: str, session_id: str, name: str, content_type: str, body: bytes) -> None:
    """What the console does for an agent's file: ask for an upload, POST it to S3, send the message."""
    asked = api(stack, "POST", "/api/attachments", token,
                json={"filename": name, "content_type": content_type, "size": len(body), "session_id": session_id})
    assert asked.status_code == 201, asked.text
    upload = asked.json()["upload"]
    put = requests.post(upload["url"], data=upload["fields"], files={"file": (name, body, content_type)}, timeout=10)
    assert put.status_code in (200, 204), put.text
    sent = api(stack, "POST", f"/api/sessions/{session_id}/messages", token,
               json={"text": "", "attachment_id": asked.json()["attachment_id"], "client_msg_id": f"file-{name}"})
    assert sent.status_code == 201, sent.text


def test_an_image_from_the_agent_is_previewed_in_the_widget_and_named_on_the_launcher(
        stack: Stack, fresh: None, widget_tab: OpenWidget, connect: Any):
    from playwright.sync_api import expect

    tab, alice, session_id = chatting(stack, widget_tab, connect)
    page = tab.page
    page.get_by_test_id("kefu-close").click()
    agent_sends_file(stack, alice.token, session_id, "label.png", "image/png", png(3, 1))
    expect(page.get_by_test_id("kefu-unread")).to_have_text("1")
    expect(page.get_by_test_id("kefu-preview")).to_contain_text("label.png")
    page.get_by_test_id("kefu-launcher").click()
    image = page.locator("[data-testid=kefu-message][data-sender=agent] [data-testid=kefu-attachment] img")
    expect(image).to_have_attribute("alt", "label.png")
    expect(image).to_have_js_property("complete", True)
    expect(image).to_have_js_property("naturalWidth", 3)  # the picture itself, through its presigned GET

    # A tall picture loads after its bubble is shown: the newest line stays in view all the same.
    for n in range(1, 6):
        reply = api(stack, "POST", f"/api/sessions/{session_id}/messages", alice.token,
                    json={"text": f"Line {n}", "client_msg_id": f"line-{n}"})
        assert reply.status_code == 201, reply.text
    expect(page.locator("[data-testid=kefu-message][data-sender=agent][data-id]")).to_have_count(6)
    agent_sends_file(stack, alice.token, session_id, "tall.png", "image/png", png(40, 600))
    tall = page.locator("[data-testid=kefu-attachment] img[alt='tall.png']")
    expect(tall).to_have_js_property("complete", True)
    expect(tall).to_have_js_property("naturalHeight", 600)
    body = page.get_by_test_id("kefu-body")
    assert body.evaluate("(b) => b.scrollHeight - b.clientHeight") > 150  # the picture made it scroll
    wait_for(lambda: body.evaluate("(b) => b.scrollHeight - b.scrollTop - b.clientHeight < 2"))

    agent_sends_file(stack, alice.token, session_id, "receipt.pdf", "application/pdf", PDF)
    link = page.locator("[data-testid=kefu-message][data-sender=agent] [data-testid=kefu-attachment] a[download]")
    expect(link).to_contain_text("receipt.pdf")
    assert requests.get(link.get_attribute("href"), timeout=10).content == PDF
    assert tab.errors == []


def test_a_pdf_is_shown_as_a_link(stack: Stack, fresh: None, widget_tab: OpenWidget, connect: Any):
    from playwright.sync_api import expect

    tab, alice, session_id = chatting(stack, widget_tab, connect)
    page = tab.page
    page.get_by_test_id("kefu-attach").set_input_files({"name": "invoice.pdf", "mimeType": "application/pdf",
                                                        "buffer": PDF})
    link = page.locator("[data-testid=kefu-message][data-id] [data-testid=kefu-attachment] a")
    expect(link).to_have_count(1)
    expect(link).to_contain_text("invoice.pdf")
    assert requests.get(link.get_attribute("href"), timeout=10).content == PDF
    assert page.locator("[data-testid=kefu-message][data-id] [data-testid=kefu-attachment] img").count() == 0
    assert tab.errors == []


def test_a_20_mb_file_is_refused_with_a_clear_message_before_any_upload(
        stack: Stack, fresh: None, widget_tab: OpenWidget, connect: Any, tmp_path: Path):
    from playwright.sync_api import expect

    tab, alice, session_id = chatting(stack, widget_tab, connect)
    page = tab.page
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/attachments" in r.url else None)
    big = tmp_path / "huge.png"  # a path: the browser reads it from disk (20 MB through the driver is slow)
    big.write_bytes(png() + b"\x00" * (20 * 1024 * 1024))
    page.get_by_test_id("kefu-attach").set_input_files(big, timeout=60_000)
    expect(page.get_by_test_id("kefu-error")).to_have_text("huge.png is too large: files may be at most 10 MB.")
    assert asked == []
    assert [m for m in stored_messages(stack, alice.token, session_id) if m.get("attachment")] == []


def test_an_executable_renamed_png_is_refused_by_the_server_with_a_clear_message(
        stack: Stack, fresh: None, widget_tab: OpenWidget, connect: Any):
    from playwright.sync_api import expect

    tab, alice, session_id = chatting(stack, widget_tab, connect)
    page = tab.page
    page.get_by_test_id("kefu-attach").set_input_files(
        {"name": "photo.png", "mimeType": "image/png", "buffer": EXECUTABLE})
    expect(page.get_by_test_id("kefu-error")).to_have_text(
        "photo.png was refused: it is not a PNG, JPEG, GIF or WebP image or a PDF.")
    expect(page.locator("[data-testid=kefu-message][data-failed=true] .kefu-meta")).to_have_text(["Not sent"])
    assert [m for m in stored_messages(stack, alice.token, session_id) if m.get("attachment")] == []
    # The conversation goes on.
    write(page, "Sorry, wrong file")
    expect(page.locator("[data-testid=kefu-message][data-sender=visitor][data-id] .kefu-text").last).to_have_text(
        "Sorry, wrong file")


def test_a_file_of_another_type_is_refused_before_any_upload(
        stack: Stack, fresh: None, widget_tab: OpenWidget):
    from playwright.sync_api import expect

    page = widget_tab(f"{SHOP}/types.html", html=shop_page(widget_tag(stack))).page
    open_panel(page)
    page.get_by_test_id("kefu-start").click()
    page.get_by_test_id("kefu-attach").set_input_files(
        {"name": "setup.exe", "mimeType": "application/x-msdownload", "buffer": EXECUTABLE})
    expect(page.get_by_test_id("kefu-error")).to_have_text(
        "setup.exe cannot be sent: only PNG, JPEG, GIF, WebP images and PDF files are allowed.")
    assert page.evaluate("localStorage.getItem('kefu.visitor')") is None  # nothing created for it


def test_download_urls_that_no_longer_work_are_renewed(
        stack: Stack, fresh: None, widget_tab: OpenWidget, connect: Any):
    """Presigned GETs last ten minutes: a picture whose URL fails and a link clicked after its URL
    expired ask the API for a fresh one (GET /api/attachments/{id})."""
    from playwright.sync_api import expect

    tab, alice, session_id = chatting(stack, widget_tab, connect)
    page = tab.page
    renewals: list[str] = []
    page.on("request", lambda r: renewals.append(r.url) if "/api/attachments/" in r.url and r.method == "GET" else None)
    refused: list[str] = []

    def s3_once_expired(route: Any) -> None:  # S3 refuses the first GET of each file, as an expired URL
        if route.request.method == "GET" and not any(route.request.url.split("?")[0] == u for u in refused):
            refused.append(route.request.url.split("?")[0])
            route.fulfill(status=403, content_type="application/xml",
                          body="<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>")
        else:
            route.continue_()

    page.route(lambda url: "/attachments/" in url and "/api/attachments" not in url, s3_once_expired)
    agent_sends_file(stack, alice.token, session_id, "label.png", "image/png", png(3, 1))
    image = page.locator("[data-testid=kefu-message][data-sender=agent] [data-testid=kefu-attachment] img")
    expect(image).to_have_js_property("naturalWidth", 3)  # shown all the same, from a fresh URL
    assert len(renewals) == 1 and len(refused) == 1
    page.unroute_all()

    # A link clicked once its URL has expired (eleven minutes later) opens a fresh one.
    agent_sends_file(stack, alice.token, session_id, "receipt.pdf", "application/pdf", PDF)
    link = page.locator("[data-testid=kefu-message][data-sender=agent] [data-testid=kefu-attachment] a[download]")
    expect(link).to_contain_text("receipt.pdf")
    page.clock.install()
    page.clock.fast_forward("11:00")
    opens_file = lambda r: "receipt.pdf" in r.url and r.is_navigation_request()  # noqa: E731
    with page.context.expect_event("request", predicate=opens_file) as went, page.context.expect_page():
        link.click()
    assert len(renewals) == 2  # a fresh URL was asked for before the new tab went there
    fresh_href = link.get_attribute("href")
    assert went.value.url == fresh_href
    assert requests.get(fresh_href, timeout=10).content == PDF
    assert all("403" in e for e in tab.errors), tab.errors  # only the refused picture
