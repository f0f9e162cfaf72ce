"""An agent's own avatar (set by an admin) rides on their messages, so the widget shows it beside
their bubbles; without one the widget uses the shop's (``avatar_url`` of the widget settings)."""

from __future__ import annotations

import uuid

AVATAR = "https://cdn.shop.example/team/alice.png"


def _reply_in_new_conversation(api, people, agent):
    visitor = people.visitor("Ann")
    session_id = api.post("/api/sessions", visitor, body={"text": "Hello?", "client_msg_id": uuid.uuid4().hex}
                          ).json_body["session"]["session_id"]
    reply = api.post(f"/api/sessions/{session_id}/messages", agent,
                     body={"text": "Hi, Alice here.", "client_msg_id": uuid.uuid4().hex})
    assert reply.status_code == 201, reply.json_body
    assert reply.json_body["message"]["sender"]["name"] == "Alice"
    return api.get(f"/api/sessions/{session_id}/messages", visitor).json_body["messages"]


def test_an_admin_gives_an_agent_an_avatar_that_their_messages_carry(api, people):
    admin = people.admin()
    agent = people.agent("alice", display_name="Alice", online=True)

    patched = api.patch(f"/api/agents/{agent.user_id}", admin, body={"avatar_url": AVATAR})

    assert patched.status_code == 200, patched.json_body
    assert patched.json_body["avatar_url"] == AVATAR
    history = _reply_in_new_conversation(api, people, agent)
    reply = next(m for m in history if m["sender"]["type"] == "agent")
    assert reply["sender"] == {"type": "agent", "id": agent.user_id, "name": "Alice", "avatar_url": AVATAR}


def test_an_agent_without_an_avatar_sends_none_and_a_cleared_one_is_gone(api, people):
    admin = people.admin()
    agent = people.agent("alice", display_name="Alice", online=True)
    api.patch(f"/api/agents/{agent.user_id}", admin, body={"avatar_url": AVATAR})

    cleared = api.patch(f"/api/agents/{agent.user_id}", admin, body={"avatar_url": ""})

    assert cleared.status_code == 200, cleared.json_body
    assert cleared.json_body["avatar_url"] is None
    history = _reply_in_new_conversation(api, people, agent)
    reply = next(m for m in history if m["sender"]["type"] == "agent")
    assert "avatar_url" not in reply["sender"]


def test_an_avatar_must_be_a_web_address(api, people):
    admin = people.admin()
    agent = people.agent("alice")

    refused = api.patch(f"/api/agents/{agent.user_id}", admin, body={"avatar_url": "javascript:alert(1)"})

    assert refused.status_code == 422, refused.json_body
