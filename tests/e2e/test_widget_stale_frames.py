"""Stale frames: session frames come from different servers in any order, so the widget keeps the
newest by the session's version (#12) and ignores one older than the state it shows. The test stands
between the page and the WebSocket API and delivers a real frame again, late, as a slow server would."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from devstack import Stack
from tests.e2e.protocol_helpers import api, online_agent
from tests.e2e.widget_support import SHOP, OpenWidget, open_panel, shop_page, widget_tag, write


def _between(page: Any, stack: Stack, relay: Callable[[dict[str, Any]], dict[str, Any] | None]) -> list[Any]:
    """Stand between the page and the WebSocket API: each frame from the server goes through
    ``relay`` (None: held back). Returns the page's sockets, to send frames of our own on."""
    sockets: list[Any] = []

    def between(socket: Any) -> None:
        server = socket.connect_to_server()

        def from_server(message: str | bytes) -> None:
            frame = relay(json.loads(message))
            if frame is not None:
                socket.send(json.dumps(frame))

        server.on_message(from_server)
        sockets.append(socket)

    page.route_web_socket(f"{stack.ws_url}*", between)
    return sockets


def test_a_late_frame_older_than_the_state_shown_is_ignored(
        stack: Stack, fresh: None, widget_tab: OpenWidget, connect: Any):
    from playwright.sync_api import expect

    alice, _ = online_agent(stack, connect, "Alice")
    tab = widget_tab(f"{SHOP}/late.html", html=shop_page(widget_tag(stack)))
    page = tab.page
    heard: list[dict[str, Any]] = []

    def keep(frame: dict[str, Any]) -> dict[str, Any]:  # forwards everything, keeping what the server said
        heard.append(frame)
        return frame

    sockets = _between(page, stack, keep)
    open_panel(page)
    write(page, "Hello")
    status = page.get_by_test_id("kefu-status")
    expect(status).to_have_text("You are chatting with Alice")
    assigned = next(f for f in heard if f.get("type") == "session.assigned")
    session_id = assigned["session_id"]

    eve, _ = online_agent(stack, connect, "Eve")
    moved = api(stack, "POST", f"/api/sessions/{session_id}/transfer", alice.token, json={"agent_id": eve.id})
    assert moved.status_code == 200, moved.text
    expect(status).to_have_text("You are chatting with Eve")
    transferred = next(f for f in heard if f.get("type") == "session.transferred")
    assert transferred["version"] > assigned["version"]

    sockets[-1].send(json.dumps(assigned))  # Alice's assignment again, late: older than the transfer
    answer = api(stack, "POST", f"/api/sessions/{session_id}/messages", eve.token,
                 json={"text": "Eve here", "client_msg_id": "eve-1"})
    assert answer.status_code == 201, answer.text
    # The reply came after the late frame on the same socket: by now the widget has read both.
    expect(page.locator("[data-testid=kefu-message][data-sender=agent] .kefu-text")).to_have_text(["Eve here"])
    expect(status).to_have_text("You are chatting with Eve")
    expect(page.locator("[data-testid=kefu-system] .kefu-text")).to_have_text(
        ["Alice joined the chat", "You were transferred to Eve"])
    assert tab.errors == []


def test_the_joined_line_of_an_assignment_frame_that_arrives_after_a_transfer_is_still_shown(
        stack: Stack, fresh: None, widget_tab: OpenWidget, connect: Any):
    """The frame is stale by then and changes nothing, but the transcript line it carries (#21: the
    line rides on the frame) belongs in the conversation, in its place."""
    from playwright.sync_api import expect

    alice, _ = online_agent(stack, connect, "Alice")
    tab = widget_tab(f"{SHOP}/late-line.html", html=shop_page(widget_tag(stack)))
    page = tab.page
    held: list[dict[str, Any]] = []

    def hold_back(frame: dict[str, Any]) -> dict[str, Any] | None:  # the first assignment, its line in history
        if frame.get("type") == "session.assigned" and not held:
            held.append(frame)
            return None
        if frame.get("type") == "history":
            kept = [m for m in frame["messages"] if (m.get("system") or {}).get("event") != "assigned"]
            return {**frame, "messages": kept}
        return frame

    sockets = _between(page, stack, hold_back)
    open_panel(page)
    write(page, "Hello")
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(100)
    assert held and held[0]["line"]["system"]["event"] == "assigned"
    session_id = held[0]["session_id"]

    eve, _ = online_agent(stack, connect, "Eve")
    moved = api(stack, "POST", f"/api/sessions/{session_id}/transfer", alice.token, json={"agent_id": eve.id})
    assert moved.status_code == 200, moved.text
    status = page.get_by_test_id("kefu-status")
    expect(status).to_have_text("You are chatting with Eve")
    lines = page.locator("[data-testid=kefu-system] .kefu-text")
    expect(lines).to_have_text(["You were transferred to Eve"])

    sockets[-1].send(json.dumps(held[0]))  # Alice's assignment, late: older than the transfer

    expect(lines).to_have_text(["Alice joined the chat", "You were transferred to Eve"])
    expect(status).to_have_text("You are chatting with Eve")
    assert tab.errors == []
