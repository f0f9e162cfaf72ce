"""The transcript: every message has its time (<time datetime>, shown in the visitor's locale);
agent messages show the agent's name and an avatar; system lines say who joined, a transfer, a
return to the queue and the end; a greeting from the settings opens the conversation; the rating
shows the chosen star and takes a comment; the transcript can be mailed."""

from __future__ import annotations

from typing import Any

from devstack import Stack
from tests.conftest import sent_mail
from tests.e2e.conftest import wait_for
from tests.e2e.protocol_helpers import admin_token, api, online_agent, set_status, stored_messages
from tests.e2e.widget_support import SHOP, OpenWidget, open_panel, shop_page, widget_tag, write

AVATAR = f"{SHOP}/team.png"
FORMAT = "(iso) => new Intl.DateTimeFormat(undefined, {hour: 'numeric', minute: '2-digit'}).format(new Date(iso))"


def session_of(page: Any) -> str:
    return str(page.evaluate("JSON.parse(localStorage.getItem('kefu.conversation')).session_id"))


def reply(stack: Stack, token: str, session_id: str, text: str) -> None:
    answer = api(stack, "POST", f"/api/sessions/{session_id}/messages", token,
                 json={"text": text, "client_msg_id": f"reply-{text}"})
    assert answer.status_code == 201, answer.text


def test_messages_carry_their_time_in_the_visitors_locale_and_the_agents_name_and_avatar(
        stack: Stack, fresh: None, widget_tab: OpenWidget, connect: Any):
    from playwright.sync_api import expect

    admin = admin_token(stack)
    assert api(stack, "PUT", "/api/widget/settings", admin, json={"avatar_url": AVATAR}).status_code == 200
    alice, _ = online_agent(stack, connect, "Alice")
    shown: dict[str, list[str]] = {}
    for locale, zone in (("en-US", "America/New_York"), ("de-DE", "Europe/Berlin")):
        tab = widget_tab(f"{SHOP}/{locale}.html", html=shop_page(widget_tag(stack, lang="en")), locale=locale,
                         timezone_id=zone, images=(AVATAR,))
        page = tab.page
        open_panel(page)
        write(page, f"Hello from {locale}")
        expect(page.get_by_test_id("kefu-status")).to_have_text("You are chatting with Alice")
        reply(stack, alice.token, session_of(page), f"Hi {locale}")
        agent_message = page.locator("[data-testid=kefu-message][data-sender=agent]")
        expect(agent_message).to_have_attribute("data-sender-name", "Alice")
        expect(agent_message.locator(".sender")).to_have_text("Alice")
        expect(agent_message.locator("img.avatar")).to_have_attribute("src", AVATAR)
        expect(agent_message.locator("img.avatar")).to_have_js_property("naturalWidth", 2)

        times = page.locator("[data-testid=kefu-message][data-id] time")
        expect(times).to_have_count(2)  # both stored (the visitor's is shown before it is)
        stored = {m["text"]: m for m in stored_messages(stack, alice.token, session_of(page))}
        shown[locale] = []
        for node in times.all():
            when = node.get_attribute("datetime")
            text = node.locator("xpath=ancestor::li[1]").locator(".kefu-text").text_content()
            assert when == stored[text]["created_at"]  # the stored time, exactly
            assert node.text_content() == page.evaluate(FORMAT, when)  # shown as the visitor's locale has it
            shown[locale].append(node.text_content())
        assert tab.errors == []
    assert all(t.endswith(("AM", "PM")) for t in shown["en-US"])  # a 12-hour clock there...
    assert not any(t.endswith(("AM", "PM")) for t in shown["de-DE"])  # ...a 24-hour one here


def test_an_agents_own_avatar_wins_over_the_shops(
        stack: Stack, fresh: None, widget_tab: OpenWidget, connect: Any):
    from playwright.sync_api import expect

    own = f"{SHOP}/alice.png"
    admin = admin_token(stack)
    assert api(stack, "PUT", "/api/widget/settings", admin, json={"avatar_url": AVATAR}).status_code == 200
    alice, _ = online_agent(stack, connect, "Alice")
    assert api(stack, "PATCH", f"/api/agents/{alice.id}", admin, json={"avatar_url": own}).status_code == 200
    tab = widget_tab(f"{SHOP}/own.html", html=shop_page(widget_tag(stack)), images=(AVATAR, own))
    page = tab.page
    open_panel(page)
    write(page, "Hello")
    expect(page.get_by_test_id("kefu-status")).to_have_text("You are chatting with Alice")
    reply(stack, alice.token, session_of(page), "Hi, Alice here")
    avatar = page.locator("[data-testid=kefu-message][data-sender=agent] img.avatar")
    expect(avatar).to_have_attribute("src", own)
    expect(avatar).to_have_js_property("naturalWidth", 2)
    assert tab.errors == []


def test_system_lines_tell_who_joined_a_transfer_a_return_to_the_queue_and_the_end(
        stack: Stack, fresh: None, widget_tab: OpenWidget, connect: Any):
    from playwright.sync_api import expect

    alice, _ = online_agent(stack, connect, "Alice")
    tab = widget_tab(f"{SHOP}/lines.html", html=shop_page(widget_tag(stack)))
    page = tab.page
    system = page.get_by_test_id("kefu-system")
    lines = system.locator(".kefu-text")
    open_panel(page)
    write(page, "Hello")
    expect(lines).to_have_text(["Alice joined the chat"])
    eve, _ = online_agent(stack, connect, "Eve")  # online once Alice has the customer

    moved = api(stack, "POST", f"/api/sessions/{session_of(page)}/transfer", alice.token, json={"agent_id": eve.id})
    assert moved.status_code == 200, moved.text
    expect(lines).to_have_text(["Alice joined the chat", "You were transferred to Eve"])
    expect(page.get_by_test_id("kefu-status")).to_have_text("You are chatting with Eve")

    set_status(stack, alice, "offline")
    set_status(stack, eve, "offline")  # nobody left: the customer goes back to the queue
    expect(lines.last).to_have_text("Your chat is back in the queue, the next free agent will answer")
    page.get_by_test_id("kefu-end").click()
    expect(lines).to_have_text(["Alice joined the chat", "You were transferred to Eve",
                                "Your chat is back in the queue, the next free agent will answer",
                                "You ended the chat"])
    expect(system.locator("time")).to_have_count(4)
    assert tab.errors == []


def test_a_greeting_from_the_settings_opens_the_conversation(
        stack: Stack, fresh: None, widget_tab: OpenWidget, connect: Any):
    from playwright.sync_api import expect

    greeting = "Welcome to Example Shop! How can we help?"
    admin = admin_token(stack)
    assert api(stack, "PUT", "/api/widget/settings", admin, json={"greeting": greeting}).status_code == 200
    alice, _ = online_agent(stack, connect, "Alice")
    tab = widget_tab(f"{SHOP}/hello.html", html=shop_page(widget_tag(stack)))
    page = tab.page
    open_panel(page)
    expect(page.get_by_test_id("kefu-greeting")).to_have_text(greeting)  # on the pre-chat step
    page.get_by_test_id("kefu-start").click()
    texts = page.locator("[data-testid=kefu-message] .kefu-text")
    expect(texts).to_have_text([greeting])  # before anything exists on the server
    write(page, "Do you have gift cards?")
    expect(page.locator("[data-testid=kefu-message][data-kind=greeting][data-id]")).to_have_count(1)  # the stored one
    expect(texts).to_have_text([greeting, "Do you have gift cards?"])
    # The stored order: the greeting opens it; Alice joins as the first message opens the
    # conversation (her line is written with the assignment), then the message is stored.
    expect(page.locator("[data-testid=kefu-message] .kefu-text, [data-testid=kefu-system] .kefu-text")).to_have_text(
        [greeting, "Alice joined the chat", "Do you have gift cards?"])
    # The widget shows a message as it is sent; it is stored once acknowledged (its id shows).
    expect(page.locator("[data-testid=kefu-message][data-id]")).to_have_count(2)
    stored = api(stack, "GET", f"/api/sessions/{session_of(page)}/messages", alice.token).json()["messages"]
    assert [(m.get("kind"), m["text"]) for m in reversed(stored) if "system" not in m] == [
        ("greeting", greeting), (None, "Do you have gift cards?")]
    assert tab.errors == []


def test_the_rating_shows_the_chosen_star_and_keeps_the_comment(
        stack: Stack, fresh: None, widget_tab: OpenWidget, connect: Any):
    from playwright.sync_api import expect

    alice, _ = online_agent(stack, connect, "Alice")
    tab = widget_tab(f"{SHOP}/rate.html", html=shop_page(widget_tag(stack)))
    page = tab.page
    open_panel(page)
    write(page, "Thanks for the help")
    expect(page.get_by_test_id("kefu-status")).to_have_text("You are chatting with Alice")
    session_id = session_of(page)
    assert api(stack, "POST", f"/api/sessions/{session_id}/end", alice.token).status_code == 200
    expect(page.get_by_test_id("kefu-status")).to_have_text("The agent ended the chat")
    page.get_by_test_id("kefu-rate-comment").fill("Quick and kind")
    page.get_by_test_id("kefu-rate-4").click()
    expect(page.get_by_test_id("kefu-status")).to_have_text("Thank you for your feedback!")

    def stars_shown() -> list[tuple[str | None, str | None]]:
        return [(page.get_by_test_id(f"kefu-rate-{n}").get_attribute("data-lit"),
                 page.get_by_test_id(f"kefu-rate-{n}").get_attribute("aria-pressed")) for n in range(1, 6)]

    chosen = [("true", "false")] * 3 + [("true", "true"), ("false", "false")]
    assert stars_shown() == chosen
    session = wait_for(lambda: (body := api(stack, "GET", f"/api/sessions/{session_id}", alice.token).json())
                       .get("rating") and body)
    assert (session["rating"], session["rating_comment"]) == (4, "Quick and kind")

    page.reload()
    page.get_by_test_id("kefu-launcher").click()
    expect(page.get_by_test_id("kefu-rate-comment")).to_have_value("Quick and kind")
    expect(page.get_by_test_id("kefu-rate-4")).to_have_attribute("aria-pressed", "true")
    assert stars_shown() == chosen
    expect(page.get_by_test_id("kefu-rate-5")).to_be_disabled()
    assert tab.errors == []


def test_the_transcript_is_mailed_on_request(stack: Stack, fresh: None, widget_tab: OpenWidget, connect: Any):
    from playwright.sync_api import expect

    alice, _ = online_agent(stack, connect, "Alice")
    tab = widget_tab(f"{SHOP}/mail.html", html=shop_page(widget_tag(stack)))
    page = tab.page
    open_panel(page)
    write(page, "What are your opening hours?")
    expect(page.get_by_test_id("kefu-status")).to_have_text("You are chatting with Alice")
    reply(stack, alice.token, session_of(page), "9 to 6, Monday to Saturday")
    page.get_by_test_id("kefu-end").click()
    page.get_by_test_id("kefu-transcript").click()  # no email given yet: it is asked for
    expect(page.get_by_test_id("kefu-error")).to_have_text("Enter your email above to receive the transcript.")
    page.get_by_test_id("kefu-email").fill("bob@example.com")
    page.get_by_test_id("kefu-transcript").click()
    expect(page.get_by_test_id("kefu-notice")).to_have_text("Transcript sent to bob@example.com")
    mail = wait_for(lambda: [m for m in sent_mail() if "bob@example.com" in m["to"]], timeout=15)
    assert "What are your opening hours?" in mail[-1]["text"] and "9 to 6, Monday to Saturday" in mail[-1]["text"]
    assert all("422" in e for e in tab.errors), tab.errors  # the browser's note of the first, refused ask


def test_system_lines_stored_by_the_server_replace_the_widgets_own_in_the_visitors_language(
        stack: Stack, fresh: None, widget_tab: OpenWidget, connect: Any):
    """The server stores system lines as messages (docs/protocol.md, issue 20) and a client may see
    them before or after the ``session.*`` frame. Here the stored line of the assignment is held back
    at the widget's socket (carried by ``session.assigned``, and its copy in the history) until the
    widget has made up its own from ``session.assigned``; let through, it takes that line's place,
    in the visitor's language."""
    import json

    from playwright.sync_api import expect

    online_agent(stack, connect, "Alice")
    tab = widget_tab(f"{SHOP}/zh.html", html=shop_page(widget_tag(stack)), locale="zh-CN")
    page = tab.page
    held: dict[str, dict[str, Any]] = {}  # stored system lines not let through yet, by id
    sockets: list[Any] = []

    def is_line(message: dict[str, Any]) -> bool:
        return message["sender"]["type"] == "system" and message.get("kind") != "greeting"

    def through(socket: Any) -> None:
        server = socket.connect_to_server()
        sockets.append(socket)

        def from_server(raw: str | bytes) -> None:
            data = json.loads(raw) if isinstance(raw, str) else {}
            if data.get("type") == "message.new" and is_line(data["message"]):
                held[data["message"]["id"]] = data["message"]
                return
            if data.get("type") == "session.assigned" and data.get("line"):
                held[data["line"]["id"]] = data["line"]  # the frame carries the stored line: held back too
                raw = json.dumps({key: value for key, value in data.items() if key != "line"})
            if data.get("type") == "history":
                held.update((m["id"], m) for m in data["messages"] if is_line(m))
                raw = json.dumps({**data, "messages": [m for m in data["messages"] if not is_line(m)]})
            socket.send(raw)

        server.on_message(from_server)

    page.route_web_socket(f"{stack.ws_url}*", through)
    page.reload()
    open_panel(page)
    write(page, "你好")
    lines = page.locator("[data-testid=kefu-system] .kefu-text")
    expect(lines).to_have_text(["Alice 加入了对话"])  # made up from session.assigned
    expect(page.locator("[data-testid=kefu-system][data-id]")).to_have_count(0)
    for _ in range(100):  # the push may come a moment after the frame
        if held:
            break
        page.wait_for_timeout(100)
    assert [m["system"]["event"] for m in held.values()] == ["assigned"], held

    stored = next(iter(held.values()))
    sockets[-1].send(json.dumps({"type": "message.new", "message": stored}))
    line = page.locator("[data-testid=kefu-system][data-id]")
    expect(line).to_have_attribute("data-id", stored["id"])
    expect(line.locator(".kefu-text")).to_have_text("Alice 加入了对话")  # not the stored English sentence
    expect(lines).to_have_count(1)  # the stored line took the place of the widget's own
    assert stored["text"] != "Alice 加入了对话"
    assert tab.errors == []
