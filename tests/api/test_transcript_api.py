"""The transcript over REST: internal notes stay among agents; system lines tell what happened
(docs/protocol.md, "System lines and internal notes")."""

from __future__ import annotations

import pytest

from chalicelib.models import MessageModel, SessionModel
from chalicelib.services import assignment, chat


@pytest.fixture
def conversation(people):
    agent = people.agent("alice", display_name="Alice", online=True)
    visitor = people.visitor("Ann")
    session_id = people.start_session(visitor).session.session_id
    return agent, visitor, session_id


def _post(api, caller, session_id: str, text: str, client_msg_id: str, **extra):
    return api.post(f"/api/sessions/{session_id}/messages", caller,
                    body={"text": text, "client_msg_id": client_msg_id, **extra})


def _history(api, caller, session_id: str) -> list[dict]:
    response = api.get(f"/api/sessions/{session_id}/messages?limit=100", caller)
    assert response.status_code == 200, response.body
    return list(reversed(response.json_body["messages"]))


def _lines(messages: list[dict]) -> list[dict]:
    return [m["system"] for m in messages if m["sender"]["type"] == "system"]


def test_an_internal_note_is_shown_to_agents_and_never_returned_to_the_visitor(api, people, conversation):
    agent, visitor, session_id = conversation
    _post(api, visitor, session_id, "Where is my parcel?", "v-1")

    note = _post(api, agent, session_id, "VIP customer, refund if late", "n-1", internal=True)
    _post(api, agent, session_id, "Let me check", "a-1")

    assert note.status_code == 201, note.body
    assert note.json_body["message"]["internal"] is True
    as_agent = [(m["text"], m.get("internal", False)) for m in _history(api, agent, session_id)
                if m["sender"]["type"] != "system"]
    assert as_agent == [("Where is my parcel?", False), ("VIP customer, refund if late", True),
                        ("Let me check", False)]
    as_admin = _history(api, people.admin("root"), session_id)
    assert "VIP customer, refund if late" in [m["text"] for m in as_admin]
    as_visitor = _history(api, visitor, session_id)
    assert [m["text"] for m in as_visitor if m["sender"]["type"] != "system"] == [
        "Where is my parcel?", "Let me check"]
    assert all("internal" not in m for m in as_visitor)


def test_a_visitor_page_of_history_stays_full_when_notes_fall_inside_it(api, conversation):
    agent, visitor, session_id = conversation
    for n in range(6):
        _post(api, visitor, session_id, f"v{n}", f"v-{n}")
        _post(api, agent, session_id, f"note {n}", f"n-{n}", internal=True)

    page = api.get(f"/api/sessions/{session_id}/messages?limit=4", visitor).json_body

    assert [m["text"] for m in page["messages"]] == ["v5", "v4", "v3", "v2"]
    assert page["next"] is not None


def test_a_visitor_cannot_write_a_note(api, conversation):
    _, visitor, session_id = conversation

    response = _post(api, visitor, session_id, "psst", "v-1", internal=True)

    assert (response.status_code, response.json_body["error"]) == (403, "forbidden")
    assert [m.text for m in MessageModel.query(session_id) if m.sender_type != "system"] == []


def test_a_note_is_not_a_reply(api, conversation):
    agent, visitor, session_id = conversation
    _post(api, visitor, session_id, "hello?", "v-1")

    _post(api, agent, session_id, "looking into it", "n-1", internal=True)

    session = SessionModel.get(session_id, consistent_read=True)
    assert session.first_response_at is None
    assert int(session.message_count) == 1


def test_system_lines_tell_who_joined_the_transfer_with_its_note_the_end_and_the_rating(api, people, conversation):
    alice, visitor, session_id = conversation
    bob = people.agent("bob", display_name="Bob", online=True)

    moved = api.post(f"/api/sessions/{session_id}/transfer", alice,
                     body={"agent_id": bob.user_id, "note": "Wants a refund for order 1042"})
    assert moved.status_code == 200, moved.body
    assert api.post(f"/api/sessions/{session_id}/end", bob).status_code == 200
    chat.rate_session(visitor.principal, session_id, 4, "quick")

    for_agents = _lines(_history(api, bob, session_id))
    assert for_agents == [
        {"event": "assigned", "agent": {"id": alice.user_id, "name": "Alice"}},
        {"event": "transferred", "from_agent": {"id": alice.user_id, "name": "Alice"},
         "agent": {"id": bob.user_id, "name": "Bob"}, "note": "Wants a refund for order 1042"},
        {"event": "ended", "by": {"type": "agent", "id": bob.user_id, "name": "Bob"}, "reason": "ended_by_agent"},
        {"event": "rated", "rating": 4, "comment": "quick"},
    ]
    for_visitor = _history(api, visitor, session_id)
    assert [line.get("note") for line in _lines(for_visitor)] == [None] * 4
    assert [m["text"] for m in for_visitor] == [
        "Alice joined the conversation", "Alice transferred the conversation to Bob",
        "Bob ended the conversation", "The customer rated the conversation 4/5"]


def test_a_customer_handed_back_when_their_agent_leaves_gets_a_requeued_line(api, people, conversation):
    alice, visitor, session_id = conversation

    assignment.set_status(alice.user_id, "offline")

    lines = _lines(_history(api, visitor, session_id))
    assert lines[-1] == {"event": "requeued", "agent": {"id": alice.user_id, "name": "Alice"},
                         "reason": "agent_offline"}


def test_the_line_of_a_visitors_end_names_the_visitor(api, conversation):
    _, visitor, session_id = conversation

    assert api.post(f"/api/sessions/{session_id}/end", visitor).status_code == 200

    assert _lines(_history(api, visitor, session_id))[-1] == {
        "event": "ended", "by": {"type": "visitor", "id": visitor.user_id, "name": "Ann"},
        "reason": "ended_by_visitor"}
