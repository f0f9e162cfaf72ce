"""The widget's backend through the real local stack (REST server, WebSocket gateway, moto's
DynamoDB, S3 and SES): conversations started by their first message, offline messages answered
and mailed, attachments, identify, settings and the CORS hint."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import uuid
from pathlib import Path

import pytest
import requests

from devstack import Stack
from tests.conftest import sent_mail
from tests.e2e.conftest import wait_for
from tests.e2e.protocol_helpers import (
    agent_account,
    api,
    go_online,
    online_agent,
    sign_up_visitor,
    stored_messages,
)
from tests.e2e.test_local_stack import _free_port, _start_devstack, _stop_devstack

PNG = b"\x89PNG\r\n\x1a\n" + bytes(300)
EXE = b"MZ\x90\x00" + bytes(300)
CONTEXT = {"url": "https://shop.example/p/42", "title": "Red shoes", "referrer": "", "language": "en-GB",
           "timezone": "Europe/London"}


@pytest.fixture(autouse=True)
def _empty(fresh):
    """Every test starts from empty tables (no agent online, default settings)."""


def _first_frame(socket, text, client_msg_id, **extra):
    socket.send("send_message", client_msg_id=client_msg_id, text=text, **extra)
    return socket.expect("message.ack", client_msg_id=client_msg_id)["message"]


def test_the_first_message_starts_the_conversation_even_sent_as_the_socket_opens(stack: Stack, connect):
    agent, agent_socket = online_agent(stack, connect, "Alice")
    visitor = sign_up_visitor(stack, "Vera")
    assert api(stack, "GET", "/api/sessions", visitor.token).json() == {"sessions": []}

    socket = connect(visitor)  # the frame goes out with no ping, no start_session before it
    first = _first_frame(socket, "Hello", "c1", context=CONTEXT)
    session_id = first["session_id"]
    assigned = socket.expect("session.assigned", session_id=session_id)
    second = _first_frame(socket, "Are you there?", "c2")
    third = socket.send_message(session_id, "It's about an order")

    assert assigned["agent"] == {"id": agent.id, "name": "Alice"}
    assert second["session_id"] == session_id
    agent_socket.expect("session.assigned", session_id=session_id)
    texts = [m["text"] for m in stored_messages(stack, agent.token, session_id)]
    assert texts == ["Hello", "Are you there?", "It's about an order"]
    assert third["id"] > second["id"] > first["id"]
    seen = api(stack, "GET", f"/api/sessions/{session_id}", agent.token).json()
    assert seen["context"]["url"] == CONTEXT["url"]
    assert seen["context"]["user_agent"]  # the socket's User-Agent, recorded by the gateway


def test_a_message_sent_over_rest_while_connecting_and_again_on_the_socket_is_stored_once(stack: Stack, connect):
    agent, _ = online_agent(stack, connect, "Alice")
    visitor = sign_up_visitor(stack, "Vera")

    early = api(stack, "POST", "/api/sessions", visitor.token, json={"text": "quick question", "client_msg_id": "q1"})
    socket = connect(visitor)
    again = _first_frame(socket, "quick question", "q1")

    assert early.status_code == 201
    assert again["id"] == early.json()["message"]["id"]
    session_id = again["session_id"]
    assert [m["text"] for m in stored_messages(stack, agent.token, session_id)] == ["quick question"]


def test_opening_the_widget_and_asking_availability_create_no_session(stack: Stack, connect, admin):
    online_agent(stack, connect, "Alice")
    visitor = sign_up_visitor(stack, "Curious")
    socket = connect(visitor)

    for _ in range(5):
        assert api(stack, "GET", "/api/widget/availability").json()["can_answer"] is True
        assert api(stack, "GET", "/api/widget/settings").status_code == 200
        socket.ping()

    assert api(stack, "GET", "/api/sessions?status=active", admin).json()["sessions"] == []
    assert api(stack, "GET", "/api/kefu/queue", admin).json()["queue"] == []


def test_a_start_session_frame_asks_what_the_settings_require_and_opens_with_the_greeting(
        stack: Stack, connect, admin, settings):
    """Older clients start with ``start_session``: the pre-chat form binds them as it binds the
    first message (it once opened a conversation for a visitor the settings refused), a refused
    start spends none of the visitor's budget of new conversations, the visitor's email is on the
    conversation and the greeting is its first line. (The stack runs REST and the socket's
    handlers in one process: the save is seen at once; on AWS within ``RECENT_SECONDS``.)"""
    settings(KEFU_CONVERSATIONS_PER_VISITOR=1)
    greeting = "Hello! Tell us what you are looking for."
    assert api(stack, "PUT", "/api/widget/settings", admin, json={
        "prechat": {"name": "optional", "email": "required"}, "greeting": greeting}).status_code == 200
    agent, agent_socket = online_agent(stack, connect, "Alice")
    visitor = sign_up_visitor(stack, "Vera")
    socket = connect(visitor)

    refusals = []
    for _ in range(3):
        socket.send("start_session", topic="shoes")
        refusals.append(socket.expect("error", action="start_session"))
    nothing_opened = api(stack, "GET", "/api/sessions", visitor.token).json()["sessions"]
    socket.request("update_visitor", "visitor", email="vera@example.com")
    socket.send("start_session", topic="shoes")
    assigned = socket.expect("session.assigned")
    wait_for(lambda: _has_line(socket, greeting))
    socket.send("start_session", topic="shoes")  # the open one, whatever the form asks
    again = socket.expect("session.assigned")

    assert [(r["code"], r.get("fields")) for r in refusals] == [("prechat_required", ["email"])] * 3
    assert nothing_opened == []
    session_id = assigned["session_id"]
    assert again["session_id"] == session_id and assigned["agent"]["id"] == agent.id
    seen_by_agent = api(stack, "GET", f"/api/sessions/{session_id}", agent.token).json()
    assert seen_by_agent["identity"]["email"] == "vera@example.com"
    history = api(stack, "GET", f"/api/sessions/{session_id}/messages", visitor.token).json()["messages"]
    assert history[-1]["text"] == greeting  # newest first: the greeting reads first
    wait_for(lambda: _has_line(agent_socket, greeting))


def _has_line(socket, text: str) -> bool:
    socket.sync()
    return any(line.get("text") == text for line in socket.system_lines)


def test_an_offline_message_is_answered_later_seen_on_return_and_mailed(stack: Stack, connect):
    address = f"ann-{uuid.uuid4().hex[:8]}@example.com"
    visitor = sign_up_visitor(stack, "Ann")
    assert api(stack, "GET", "/api/widget/availability").json()["reason"] == "no_agents"
    socket = connect(visitor)
    message = _first_frame(socket, "Do you have size 38?", "o1")
    session_id = message["session_id"]
    waiting = socket.expect("session.offline", session_id=session_id)
    socket.send("update_visitor", email=address)
    assert socket.expect("visitor")["visitor"]["email"] == address
    socket.client.close()  # the customer leaves

    agent = agent_account("Alice")
    agent_socket = go_online(stack, connect, agent)

    def listed() -> list[str]:
        response = api(stack, "GET", "/api/sessions?status=offline", agent.token)
        return [s["session_id"] for s in response.json()["sessions"]]

    assert session_id in wait_for(listed, timeout=15)  # the by_status index lags behind (the sim)
    reply = agent_socket.send_message(session_id, "Yes, in black and red.")
    agent_socket.expect("session.assigned", session_id=session_id)

    back = connect(visitor)  # the customer comes back
    sessions = back.request("list_sessions", "sessions")["sessions"]
    history = back.request("get_history", "history", session_id=session_id)["messages"]
    assert waiting["offline_text"]
    assert sessions[0]["session_id"] == session_id
    said = [m["text"] for m in reversed(history) if "system" not in m]  # #20's event lines aside
    assert said == ["Do you have size 38?", "Yes, in black and red."]
    mails = wait_for(lambda: [m for m in sent_mail() if address in m["to"]])
    assert "Yes, in black and red." in mails[0]["text"]
    assert reply["sender"]["name"] == "Alice"


def test_a_transcript_on_request_over_the_socket(stack: Stack, connect):
    online_agent(stack, connect, "Alice")
    visitor = sign_up_visitor(stack, "Ann")
    socket = connect(visitor)
    session_id = _first_frame(socket, "keep this", "t1")["session_id"]
    address = f"t-{uuid.uuid4().hex[:8]}@example.com"

    sent = socket.request("email_transcript", "transcript.sent", session_id=session_id, email=address)
    socket.send("email_transcript", session_id=session_id)

    assert (sent["sent_to"], sent["messages"]) == (address, 2)  # the message and the agent joining
    socket.expect_error("rate_limited")
    assert "keep this" in wait_for(lambda: [m for m in sent_mail() if address in m["to"]])[0]["text"]


def test_an_image_goes_from_the_customer_to_the_agent_through_s3(stack: Stack, connect):
    agent, agent_socket = online_agent(stack, connect, "Alice")
    visitor = sign_up_visitor(stack, "Ann")
    socket = connect(visitor)
    session_id = _first_frame(socket, "see the photo", "p0")["session_id"]
    ticket = api(stack, "POST", "/api/attachments", visitor.token,
                 json={"filename": "shoe.png", "content_type": "image/png", "size": len(PNG)}).json()
    upload = requests.post(ticket["upload"]["url"], data=ticket["upload"]["fields"],
                           files={"file": ("shoe.png", PNG)}, timeout=30)
    assert upload.status_code == 204

    socket.send("send_message", session_id=session_id, client_msg_id="p1", attachment_id=ticket["attachment_id"])
    acked = socket.expect("message.ack", client_msg_id="p1")["message"]
    pushed = agent_socket.expect("message.new", timeout=10)
    while pushed["message"]["client_msg_id"] != "p1":  # the first message's push came first
        pushed = agent_socket.expect("message.new", timeout=10)

    assert acked["attachment"]["content_type"] == "image/png"
    assert requests.get(pushed["message"]["attachment"]["url"], timeout=30).content == PNG


def test_an_executable_renamed_png_is_refused_over_the_socket(stack: Stack, connect):
    online_agent(stack, connect, "Alice")
    visitor = sign_up_visitor(stack, "Ann")
    socket = connect(visitor)
    session_id = _first_frame(socket, "file coming", "x0")["session_id"]
    ticket = api(stack, "POST", "/api/attachments", visitor.token,
                 json={"filename": "cat.png", "content_type": "image/png", "size": len(EXE)}).json()
    requests.post(ticket["upload"]["url"], data=ticket["upload"]["fields"], files={"file": ("cat.png", EXE)},
                  timeout=30)

    socket.send("send_message", session_id=session_id, client_msg_id="x1", attachment_id=ticket["attachment_id"])

    error = socket.expect_error("attachment_rejected", client_msg_id="x1")
    assert "PNG" in error["message"]


def test_identify_over_the_socket_with_a_good_and_a_bad_hash(stack: Stack, connect):
    visitor = sign_up_visitor(stack, "Ann")
    socket = connect(visitor)
    user_hash = hmac.new(os.environ["KEFU_IDENTITY_SECRET"].encode(), b"u-42", hashlib.sha256).hexdigest()

    socket.send("identify", user_id="u-42", user_hash="f" * 64)
    socket.expect_error("invalid_user_hash")
    identified = socket.request("identify", "identity", user_id="u-42", user_hash=user_hash, name="Ann")

    assert identified["visitor"]["verified"] is True
    assert identified["switched"] is False


def test_a_page_on_an_origin_the_api_refuses_learns_it_from_the_settings(stack: Stack):
    origin = "https://not-listed.example"

    settings = requests.get(f"{stack.rest_url}/api/widget/settings", headers={"Origin": origin}, timeout=10)
    preflight = requests.options(f"{stack.rest_url}/api/visitors", timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST"})

    assert settings.headers["Access-Control-Allow-Origin"] == "*"
    assert settings.json()["cors"] == {"origin": origin, "allowed": False, "setting": "KEFU_CORS_ORIGINS"}
    assert preflight.status_code == 403
    assert "KEFU_CORS_ORIGINS" in preflight.headers["X-Kefu-Cors-Error"]


def test_make_run_serves_s3_and_ses_and_keeps_every_mail_in_the_outbox(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEFU_", "POWERTOOLS_", "AWS_"))}
    env.update({"KEFU_HTTP_PORT": str(_free_port()), "KEFU_WS_PORT": str(_free_port()),
                "KEFU_WS_MGMT_PORT": str(_free_port()), "KEFU_DATA_DIR": str(data_dir), "KEFU_SIM": "off"})
    process, banner = _start_devstack(env, tmp_path / "stack.log")
    try:
        assert re.search(r"S3\s+http://127\.0\.0\.1:\d+", banner), banner
        assert f"{data_dir / 'outbox.jsonl'}" in banner
        rest = re.search(r"REST\s+(http://\S+)", banner).group(1)
        visitor = requests.post(f"{rest}/api/visitors", json={"name": "Ann"}, timeout=10).json()
        headers = {"Authorization": f"Bearer {visitor['token']}"}
        started = requests.post(f"{rest}/api/sessions", headers=headers, timeout=10,
                                json={"text": "Is anyone there?", "client_msg_id": "m1"}).json()
        session_id = started["session"]["session_id"]
        assert started["session"]["status"] == "offline"  # nobody is online

        ticket = requests.post(f"{rest}/api/attachments", headers=headers, timeout=10,
                               json={"filename": "a.png", "content_type": "image/png", "size": len(PNG)}).json()
        too_big = requests.post(ticket["upload"]["url"], data=ticket["upload"]["fields"], timeout=30,
                                files={"file": ("a.png", PNG + bytes(11 * 1024 * 1024))})
        assert too_big.status_code == 400 and "EntityTooLarge" in too_big.text
        sent = requests.post(f"{rest}/api/sessions/{session_id}/transcript", headers=headers, timeout=10,
                             json={"email": "ann@example.com"})
        assert sent.status_code == 202, sent.text
        (mail,) = [json.loads(line) for line in (data_dir / "outbox.jsonl").read_text().splitlines()]
        assert mail["to"] == ["ann@example.com"] and "Is anyone there?" in mail["text"]
        assert "ann@example.com" in (tmp_path / "stack.log").read_text()
        assert (data_dir / "identity_secret").exists()
    finally:
        _stop_devstack(process, tmp_path / "stack.log")
