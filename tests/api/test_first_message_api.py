"""Conversations start with their first message (POST /api/sessions); when nobody can answer they
wait for an agent (``offline``) without holding anyone's slot, agents list and answer them, and a
customer who left gets the answer by email (the local SES outbox)."""

from __future__ import annotations

import uuid

import pytest

from chalicelib.config import get_config
from chalicelib.models import AgentModel, MessageModel, SessionModel
from chalicelib.services import assignment
from tests.conftest import sent_mail

CONTEXT = {"url": "https://shop.example/cart?item=3", "title": "Your cart", "referrer": "https://search.example/",
           "language": "zh-CN", "timezone": "Asia/Shanghai"}
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"


def _first(api, visitor, text="Hello?", client_msg_id=None, **extra):
    return api.post("/api/sessions", visitor, body={"text": text, "client_msg_id": client_msg_id or uuid.uuid4().hex,
                                                    **extra}, headers={"User-Agent": BROWSER})


def _history(api, caller, session_id):
    """The conversation's messages, oldest first, without #20's event lines (joined, ended...)."""
    response = api.get(f"/api/sessions/{session_id}/messages", caller)
    assert response.status_code == 200, response.json_body
    return [m for m in reversed(response.json_body["messages"]) if "system" not in m]


def _mail_to(address):
    return [m for m in sent_mail() if address in m["to"]]


def _active_count(agent) -> int:
    return int(AgentModel.get(agent.user_id, consistent_read=True).active_count)


# --- starting with the first message ---------------------------------------------------------------


def test_the_first_message_opens_the_conversation_with_an_online_agent(api, people):
    agent = people.agent("alice", display_name="Alice", online=True)
    visitor = people.visitor("Ann")
    assert api.get("/api/sessions", visitor).json_body == {"sessions": []}

    response = _first(api, visitor, "Where is my order?", context=CONTEXT)

    assert response.status_code == 201, response.json_body
    body = response.json_body
    assert body["duplicate"] is False
    assert body["session"]["status"] == "active"
    assert body["session"]["agent"] == {"id": agent.user_id, "name": "Alice"}
    assert body["message"]["text"] == "Where is my order?"
    assert body["message"]["session_id"] == body["session"]["session_id"]
    assert [m["text"] for m in _history(api, agent, body["session"]["session_id"])] == ["Where is my order?"]


def test_a_retried_first_message_is_stored_once_in_one_conversation(api, people):
    people.agent(online=True)
    visitor = people.visitor()

    first = _first(api, visitor, "hi", client_msg_id="m-1")
    again = _first(api, visitor, "hi", client_msg_id="m-1")
    second = _first(api, visitor, "anyone?", client_msg_id="m-2")

    assert (first.status_code, again.status_code, second.status_code) == (201, 200, 201)
    assert again.json_body["duplicate"] is True
    assert again.json_body["message"]["id"] == first.json_body["message"]["id"]
    session_id = first.json_body["session"]["session_id"]
    assert second.json_body["session"]["session_id"] == session_id
    assert [m.text for m in MessageModel.query(session_id) if not m.system] == ["hi", "anyone?"]
    assert len(list(SessionModel.scan())) == 1


def test_the_same_message_over_rest_and_the_socket_path_is_stored_once(api, people):
    """A message sent over REST while the socket connects, and again as a frame once it is open."""
    from chalicelib.services import conversations

    people.agent(online=True)
    visitor = people.visitor()
    by_rest = _first(api, visitor, "typed while connecting", client_msg_id="early")

    message, is_new = conversations.send(visitor.principal, None, "early", "typed while connecting")

    assert not is_new
    assert message.message_id == by_rest.json_body["message"]["id"]


def test_the_greeting_from_the_settings_opens_the_conversation(api, people):
    api.put("/api/widget/settings", people.admin(), body={"greeting": "Hi! How can we help?"})
    agent = people.agent(online=True)
    visitor = people.visitor()

    session_id = _first(api, visitor, "I need help").json_body["session"]["session_id"]

    history = _history(api, visitor, session_id)
    assert [(m["sender"]["type"], m.get("kind"), m["text"]) for m in history] == [
        ("system", "greeting", "Hi! How can we help?"), ("visitor", None, "I need help")]
    assert [m["text"] for m in _history(api, agent, session_id)][0] == "Hi! How can we help?"


def test_the_page_context_and_browser_are_shown_to_agents_not_in_the_visitors_body(api, people):
    agent = people.agent(online=True)
    visitor = people.visitor()

    session_id = _first(api, visitor, context=CONTEXT).json_body["session"]["session_id"]

    seen_by_agent = api.get(f"/api/sessions/{session_id}", agent).json_body
    seen_by_visitor = api.get(f"/api/sessions/{session_id}", visitor).json_body
    assert seen_by_agent["context"] == {**CONTEXT, "user_agent": BROWSER}
    assert "context" not in seen_by_visitor
    assert api.get("/api/sessions", agent).json_body["sessions"][0]["context"]["url"] == CONTEXT["url"]


def test_a_required_prechat_email_is_asked_before_the_first_message(api, people):
    api.put("/api/widget/settings", people.admin(), body={"prechat": {"name": "off", "email": "required"}})
    people.agent(online=True)
    visitor = people.visitor()

    refused = _first(api, visitor)
    api.patch("/api/visitors/me", visitor, body={"email": "ann@example.com"})
    accepted = _first(api, visitor)

    assert refused.status_code == 422
    assert refused.json_body["error"] == "prechat_required"
    assert list(SessionModel.scan()) != [] and accepted.status_code == 201
    assert accepted.json_body["session"]["identity"]["email"] == "ann@example.com"


def test_agents_cannot_start_conversations(api, people):
    response = _first(api, people.agent())

    assert response.status_code == 403


# --- nobody can answer: waiting for an agent ------------------------------------------------------


def test_with_nobody_online_the_message_waits_for_an_agent_without_a_slot(api, people):
    agent = people.agent()  # offline
    visitor = people.visitor()

    response = _first(api, visitor, "Are you there?")

    assert response.status_code == 201
    session = response.json_body["session"]
    assert (session["status"], session["agent"], session["position"]) == ("offline", None, None)
    assert session["offline_at"] is not None
    assert assignment.queue_length() == 0
    assert _active_count(agent) == 0


def test_outside_business_hours_the_message_waits_for_an_agent(api, people):
    from tests.api.test_widget_settings_api import _hours_opening_in

    api.put("/api/widget/settings", people.admin(), body={"business_hours": _hours_opening_in(3)})
    agent = people.agent(online=True)

    session = _first(api, people.visitor()).json_body["session"]

    assert session["status"] == "offline"
    assert _active_count(agent) == 0


def test_a_waiting_conversation_never_ends_for_lack_of_a_socket(api, people, time_passes):
    visitor = people.visitor()
    session_id = _first(api, visitor).json_body["session"]["session_id"]
    config = get_config()

    time_passes(config.presence_grace_seconds + config.visitor_away_seconds + config.assignment_ttl_seconds + 60)
    report = assignment.cleanup()

    assert session_id not in report.sessions_abandoned
    assert SessionModel.get(session_id, consistent_read=True).status == "offline"


def test_agents_list_the_conversations_waiting_for_them(api, people):
    agent = people.agent()  # any agent, not only admins
    first = _first(api, people.visitor()).json_body["session"]["session_id"]
    second = _first(api, people.visitor()).json_body["session"]["session_id"]

    listed = api.get("/api/sessions?status=offline", agent)

    assert listed.status_code == 200
    assert [s["session_id"] for s in listed.json_body["sessions"]] == [second, first]
    assert api.get(f"/api/sessions/{first}", agent).status_code == 200
    assert [m["text"] for m in _history(api, agent, first)] == ["Hello?"]


def test_a_visitor_sees_only_their_own_waiting_conversation(api, people):
    ann, ben = people.visitor(), people.visitor()
    session_id = _first(api, ann).json_body["session"]["session_id"]

    assert api.get(f"/api/sessions/{session_id}", ben).status_code == 403
    assert api.get("/api/sessions?status=offline", ben).json_body == {"sessions": []}


def test_an_agents_reply_takes_the_conversation_and_reaches_the_customer_by_email(api, people):
    visitor = people.visitor("Ann")
    address = f"ann-{uuid.uuid4().hex[:8]}@example.com"
    api.patch("/api/visitors/me", visitor, body={"email": address})
    session_id = _first(api, visitor, "Do you ship to Lyon?").json_body["session"]["session_id"]
    agent = people.agent("alice", display_name="Alice", online=True)  # comes online later

    reply = api.post(f"/api/sessions/{session_id}/messages", agent,
                     body={"text": "Yes, in 3 days.", "client_msg_id": "r1"})

    assert reply.status_code == 201, reply.json_body
    seen = api.get(f"/api/sessions/{session_id}", visitor).json_body
    assert (seen["status"], seen["agent"]["id"]) == ("active", agent.user_id)
    assert _active_count(agent) == 1
    assert [m["text"] for m in _history(api, visitor, session_id)] == ["Do you ship to Lyon?", "Yes, in 3 days."]
    mails = _mail_to(address)
    assert len(mails) == 1
    assert mails[0]["from"] == get_config().mail_from
    assert "Alice" in mails[0]["subject"]
    assert "Yes, in 3 days." in mails[0]["text"]


def test_a_customer_without_an_email_gets_no_mail(api, people):
    visitor = people.visitor()
    session_id = _first(api, visitor).json_body["session"]["session_id"]
    agent = people.agent(online=True)
    before = len(sent_mail())

    api.post(f"/api/sessions/{session_id}/messages", agent, body={"text": "Hello!", "client_msg_id": "r1"})

    assert len(sent_mail()) == before


def test_an_agent_takes_a_waiting_conversation_by_hand_within_capacity(api, people):
    session_id = _first(api, people.visitor()).json_body["session"]["session_id"]
    other = _first(api, people.visitor()).json_body["session"]["session_id"]
    agent = people.agent(online=True, capacity=1)

    taken = api.post(f"/api/sessions/{session_id}/accept", agent)
    full = api.post(f"/api/sessions/{other}/messages", agent, body={"text": "Hi", "client_msg_id": "x"})

    assert taken.status_code == 200 and taken.json_body["status"] == "active"
    assert full.status_code == 409
    assert full.json_body["error"] == "capacity_full"
    assert SessionModel.get(other, consistent_read=True).status == "offline"
    assert list(MessageModel.query(other))[-1].sender_type == "visitor"


def test_the_customer_writing_again_once_someone_can_answer_joins_the_queue(api, people):
    visitor = people.visitor()
    session_id = _first(api, visitor, "first").json_body["session"]["session_id"]
    agent = people.agent(online=True)

    again = api.post(f"/api/sessions/{session_id}/messages", visitor, body={"text": "still there?",
                                                                           "client_msg_id": "m2"})

    assert again.status_code == 201
    seen = api.get(f"/api/sessions/{session_id}", visitor).json_body
    assert (seen["status"], seen["agent"]["id"]) == ("active", agent.user_id)


def test_while_every_agent_is_busy_the_customer_writing_again_keeps_waiting_offline(api, people):
    visitor = people.visitor()
    session_id = _first(api, visitor, "first").json_body["session"]["session_id"]
    agent = people.agent(online=True, capacity=1)
    people.start_session(people.visitor())  # fills the agent

    again = api.post(f"/api/sessions/{session_id}/messages", visitor, body={"text": "hello?", "client_msg_id": "m2"})

    assert again.status_code == 201
    assert api.get(f"/api/sessions/{session_id}", visitor).json_body["status"] == "offline"
    assert _active_count(agent) == 1


def test_the_customer_or_an_agent_can_end_a_waiting_conversation(api, people):
    visitor = people.visitor()
    session_id = _first(api, visitor).json_body["session"]["session_id"]

    ended = api.post(f"/api/sessions/{session_id}/end", visitor)

    assert ended.status_code == 200
    assert ended.json_body["status"] == "ended"
    assert _first(api, visitor, "new question").json_body["session"]["session_id"] != session_id


# --- transcript -------------------------------------------------------------------------------


def test_a_transcript_is_mailed_on_request_once_a_minute(api, people):
    agent = people.agent(display_name="Alice", online=True)
    visitor = people.visitor()
    session_id = _first(api, visitor, "What sizes?").json_body["session"]["session_id"]
    api.post(f"/api/sessions/{session_id}/messages", agent, body={"text": "S to XL.", "client_msg_id": "a1"})
    address = f"t-{uuid.uuid4().hex[:8]}@example.com"

    sent = api.post(f"/api/sessions/{session_id}/transcript", visitor, body={"email": address})
    again = api.post(f"/api/sessions/{session_id}/transcript", visitor, body={})

    assert sent.status_code == 202, sent.json_body
    # the question, the answer and #20's line saying Alice joined: a transcript tells it all
    assert sent.json_body == {"session_id": session_id, "sent_to": address, "messages": 3}
    (mail,) = _mail_to(address)
    assert "What sizes?" in mail["text"] and "Alice: S to XL." in mail["text"]
    assert again.status_code == 429
    assert again.headers["Retry-After"] == "60"
    assert api.get("/api/visitors/me", visitor).json_body["email"] == address


def test_mail_speaks_the_language_the_conversation_started_in(api, people):
    visitor = people.visitor("安")
    address = f"an-{uuid.uuid4().hex[:8]}@example.com"
    api.patch("/api/visitors/me", visitor, body={"email": address})
    session_id = _first(api, visitor, "你们发货到上海吗？", context=CONTEXT).json_body["session"]["session_id"]
    agent = people.agent("li", display_name="小李", online=True)

    api.post(f"/api/sessions/{session_id}/messages", agent, body={"text": "发的，三天到。", "client_msg_id": "r1"})
    api.post(f"/api/sessions/{session_id}/transcript", visitor, body={})

    reply, transcript = _mail_to(address)
    assert reply["subject"] == "小李 回复了您的消息"
    assert "小李: 发的，三天到。" in reply["text"] and "https://shop.example/cart?item=3" in reply["text"]
    assert transcript["subject"].startswith("您的对话记录")
    assert "您: 你们发货到上海吗？" in transcript["text"] and "小李: 发的，三天到。" in transcript["text"]


def test_a_transcript_needs_an_email(api, people):
    visitor = people.visitor()
    session_id = _first(api, visitor).json_body["session"]["session_id"]

    response = api.post(f"/api/sessions/{session_id}/transcript", visitor, body={})

    assert response.status_code == 422
    assert response.json_body["error"] == "email_required"


def test_only_the_customer_asks_for_their_transcript(api, people):
    agent = people.agent(online=True)
    visitor = people.visitor()
    session_id = _first(api, visitor).json_body["session"]["session_id"]

    assert api.post(f"/api/sessions/{session_id}/transcript", agent, body={}).status_code == 403
    assert api.post(f"/api/sessions/{session_id}/transcript", people.visitor(), body={}).status_code == 403


# --- rating -----------------------------------------------------------------------------------


def test_the_chosen_star_and_the_comment_are_in_the_session_body(api, people):
    people.agent(online=True)
    visitor = people.visitor()
    session_id = _first(api, visitor).json_body["session"]["session_id"]
    api.post(f"/api/sessions/{session_id}/end", visitor)

    rated = api.post(f"/api/sessions/{session_id}/rating", visitor, body={"rating": 4, "comment": "Quick, thanks"})

    assert rated.status_code == 200, rated.json_body
    seen = api.get(f"/api/sessions/{session_id}", visitor).json_body
    assert (seen["rating"], seen["rating_comment"]) == (4, "Quick, thanks")
    assert api.get("/api/sessions", visitor).json_body["sessions"][0]["rating_comment"] == "Quick, thanks"


@pytest.mark.parametrize("body", [{"rating": 6}, {"rating": "5"}, {"rating": 3, "comment": "x" * 2001}])
def test_a_bad_rating_is_a_422(api, people, body):
    visitor = people.visitor()
    session_id = _first(api, visitor).json_body["session"]["session_id"]
    api.post(f"/api/sessions/{session_id}/end", visitor)

    assert api.post(f"/api/sessions/{session_id}/rating", visitor, body=body).status_code == 422
