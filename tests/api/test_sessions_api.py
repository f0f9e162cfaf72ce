"""/api/sessions: the REST mirror of the chat protocol (who sees what, messages, accept, transfer)."""

from __future__ import annotations

import pytest

from chalicelib.models import MessageKeyModel, MessageModel, SessionModel
from tests.conftest import simulated_aws


def _overview(api, caller) -> dict[str, dict]:
    """GET /api/kefu/agents, keyed by agent id."""
    response = api.get("/api/kefu/agents", caller)
    assert response.status_code == 200
    return {a["agent_id"]: a for a in response.json_body["agents"]}


def _post(api, caller, session_id: str, text: str, client_msg_id: str):
    return api.post(f"/api/sessions/{session_id}/messages", caller,
                    body={"text": text, "client_msg_id": client_msg_id})


def _stored_texts(session_id: str) -> list[str]:
    """What people said in the session (not its system lines)."""
    return [m.text for m in MessageModel.query(session_id) if m.sender_type != "system"]


def _said(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m["sender"]["type"] != "system"]


@pytest.fixture
def chat(api, people):
    """An online agent with an auto-assigned visitor."""
    agent = people.agent("alice", display_name="Alice", online=True)
    visitor = people.visitor("Ann")
    state = people.start_session(visitor, "billing")
    assert state.session.agent_id == agent.user_id
    return agent, visitor, state.session.session_id


@pytest.fixture
def bob(people):
    """A second agent, offline, with nothing to do."""
    return people.agent("bob")


# --- starting and seeing sessions ------------------------------------------------------------------


def test_a_visitors_new_session_goes_to_the_online_agent(api, people):
    agent = people.agent("alice", display_name="Alice", online=True)
    visitor = people.visitor("Ann")

    state = people.start_session(visitor, "billing")

    assert state.session.status == "active"
    seen = api.get(f"/api/sessions/{state.session.session_id}", visitor).json_body
    assert seen["status"] == "active"
    assert seen["agent"] == {"id": agent.user_id, "name": "Alice"}
    assert seen["visitor"] == {"id": visitor.user_id, "name": "Ann"}
    assert seen["topic"] == "billing"
    assert _overview(api, agent)[agent.user_id]["active"] == 1


def test_a_session_waits_in_the_queue_while_no_agent_is_online(api, people):
    people.agent("alice")
    visitor = people.visitor("Ann")

    state = people.start_session(visitor)

    seen = api.get(f"/api/sessions/{state.session.session_id}", visitor).json_body
    assert (seen["status"], seen["agent"], seen["position"]) == ("queued", None, 1)


def test_list_sessions_returns_only_the_callers_own(api, people, chat, bob):
    agent, visitor, session_id = chat
    second_visitor = people.visitor("Ben")
    second_id = people.start_session(second_visitor).session.session_id

    mine = api.get("/api/sessions", agent).json_body["sessions"]
    visitors_own = api.get("/api/sessions", visitor).json_body["sessions"]
    others = api.get("/api/sessions", bob).json_body["sessions"]

    assert [s["session_id"] for s in mine] == [second_id, session_id]
    assert [s["session_id"] for s in visitors_own] == [session_id]
    assert others == []


def test_admin_lists_sessions_by_status_and_by_agent(api, people, chat, bob):
    agent, visitor, active_id = chat
    admin = people.admin()
    api.put("/api/agents/me/status", agent, body={"status": "away"})
    queued_id = people.start_session(people.visitor("Ben")).session.session_id
    ended_visitor = people.visitor("Cy")
    ended_id = people.start_session(ended_visitor).session.session_id
    assert api.post(f"/api/sessions/{ended_id}/end", ended_visitor).status_code == 200

    def ids(query: str) -> list[str]:
        response = api.get(f"/api/sessions?{query}", admin)
        assert response.status_code == 200
        return [s["session_id"] for s in response.json_body["sessions"]]

    assert ids("status=queued") == [queued_id]
    assert ids("status=active") == [active_id]
    assert ids("status=ended") == [ended_id]
    assert ids(f"agent_id={agent.user_id}") == [active_id]
    assert ids(f"agent_id={bob.user_id}") == []
    assert ids(f"agent_id={agent.user_id}&status=ended") == []


def test_a_plain_agent_cannot_list_someone_elses_sessions_with_filters(api, chat, bob):
    agent, visitor, session_id = chat

    response = api.get(f"/api/sessions?agent_id={agent.user_id}", bob)

    assert response.status_code == 200
    assert response.json_body["sessions"] == []


def test_list_sessions_with_an_unknown_status_is_a_validation_error(api, chat):
    agent, *_ = chat

    response = api.get("/api/sessions?status=open", agent)

    assert response.status_code == 422
    assert response.json_body["error"] == "validation_error"


def test_the_visitor_and_the_assigned_agent_and_an_admin_can_read_a_session(api, people, chat):
    agent, visitor, session_id = chat
    admin = people.admin()

    for caller in (visitor, agent, admin):
        response = api.get(f"/api/sessions/{session_id}", caller)
        assert response.status_code == 200
        assert response.json_body["session_id"] == session_id


def test_agent_cannot_read_another_agents_session(api, chat, bob):
    agent, visitor, session_id = chat

    session = api.get(f"/api/sessions/{session_id}", bob)
    messages = api.get(f"/api/sessions/{session_id}/messages", bob)

    assert (session.status_code, messages.status_code) == (403, 403)
    assert session.json_body["error"] == messages.json_body["error"] == "forbidden"


def test_visitor_cannot_read_another_visitors_session(api, people, chat):
    agent, visitor, session_id = chat
    stranger = people.visitor("Eve")

    assert api.get(f"/api/sessions/{session_id}", stranger).status_code == 403
    assert api.get(f"/api/sessions/{session_id}/messages", stranger).status_code == 403


def test_an_unknown_session_is_not_found(api, chat):
    agent, *_ = chat

    response = api.get("/api/sessions/s_doesnotexist", agent)

    assert response.status_code == 404
    assert response.json_body["error"] == "not_found"


# --- messages -----------------------------------------------------------------------------------------


def test_a_posted_message_is_returned_and_stored_once(api, chat):
    agent, visitor, session_id = chat

    response = _post(api, visitor, session_id, "Hello, my invoice is wrong", "c-1")

    assert response.status_code == 201
    body = response.json_body
    assert body["duplicate"] is False
    message = body["message"]
    assert message["session_id"] == session_id
    assert message["sender"] == {"type": "visitor", "id": visitor.user_id, "name": "Ann"}
    assert message["text"] == "Hello, my invoice is wrong"
    assert _stored_texts(session_id) == ["Hello, my invoice is wrong"]


def test_a_retried_message_is_stored_once_and_acknowledged_with_the_same_message(api, chat):
    agent, visitor, session_id = chat
    first = _post(api, agent, session_id, "How can I help?", "retry-me")

    second = _post(api, agent, session_id, "How can I help?", "retry-me")

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json_body["duplicate"] is True
    assert second.json_body["message"]["id"] == first.json_body["message"]["id"]
    assert _stored_texts(session_id) == ["How can I help?"]
    assert SessionModel.get(session_id).message_count == 1


def test_the_same_client_msg_id_from_the_other_party_is_a_different_message(api, chat):
    agent, visitor, session_id = chat

    from_visitor = _post(api, visitor, session_id, "hi", "m-1")
    from_agent = _post(api, agent, session_id, "hello", "m-1")

    assert (from_visitor.status_code, from_agent.status_code) == (201, 201)
    assert sorted(_stored_texts(session_id)) == ["hello", "hi"]


def test_text_of_1_to_4000_characters_is_accepted(api, chat):
    agent, visitor, session_id = chat

    answers = [_post(api, visitor, session_id, "x" * length, f"c-{length}").status_code for length in (1, 4000)]

    assert answers == [201, 201]
    assert sorted(_stored_texts(session_id), key=len) == ["x", "x" * 4000]


def test_text_that_is_empty_or_over_4000_characters_is_refused(api, chat):
    agent, visitor, session_id = chat

    answers = [_post(api, visitor, session_id, "x" * length, f"c-{length}") for length in (0, 4001)]

    assert [(r.status_code, r.json_body["error"]) for r in answers] == [(422, "validation_error")] * 2
    assert _stored_texts(session_id) == []
    assert SessionModel.get(session_id).message_count == 0


def test_text_is_stored_exactly_as_given(api, chat):
    agent, visitor, session_id = chat
    text = "<script>alert('x')</script> & 你好 \u00e9\n  trailing  "

    _post(api, visitor, session_id, text, "c-1")

    page = api.get(f"/api/sessions/{session_id}/messages", agent).json_body
    assert [m["text"] for m in _said(page["messages"])] == [text]


def test_a_message_without_client_msg_id_is_refused(api, chat):
    agent, visitor, session_id = chat

    response = api.post(f"/api/sessions/{session_id}/messages", visitor, body={"text": "hi"})

    assert response.status_code == 422
    assert _stored_texts(session_id) == []


def test_posting_in_another_agents_session_is_forbidden_and_stores_nothing(api, chat, bob):
    agent, visitor, session_id = chat

    response = _post(api, bob, session_id, "I should not be here", "c-1")

    assert response.status_code == 403
    assert response.json_body["error"] == "forbidden"
    assert _stored_texts(session_id) == []
    assert SessionModel.get(session_id).message_count == 0
    assert list(MessageKeyModel.scan()) == []


def test_posting_in_another_visitors_session_is_forbidden_and_stores_nothing(api, people, chat):
    agent, visitor, session_id = chat
    stranger = people.visitor("Eve")

    response = _post(api, stranger, session_id, "hijack", "c-1")

    assert response.status_code == 403
    assert _stored_texts(session_id) == []


def test_history_pages_newest_first_and_covers_everything_without_gaps_or_duplicates(api, chat):
    agent, visitor, session_id = chat
    sent = []
    for n in range(23):
        caller = visitor if n % 2 == 0 else agent
        response = _post(api, caller, session_id, f"message {n}", f"c-{n}")
        assert response.status_code == 201
        sent.append(response.json_body["message"]["id"])

    pages, before = [], None
    while True:
        query = "limit=10" + (f"&before={before}" if before else "")
        response = api.get(f"/api/sessions/{session_id}/messages?{query}", visitor)
        assert response.status_code == 200
        pages.append(response.json_body["messages"])
        before = response.json_body["next"]
        if before is None:
            break

    assert [len(p) for p in pages] == [10, 10, 4]  # with the line saying the agent joined, first
    everything = [m for page in pages for m in page]
    assert len({m["id"] for m in everything}) == 24
    assert [m["id"] for m in _said(everything)] == list(reversed(sent))
    assert everything[-1]["system"]["event"] == "assigned"


def test_history_shows_the_same_messages_to_the_agent(api, chat):
    agent, visitor, session_id = chat
    _post(api, visitor, session_id, "question", "c-1")
    _post(api, agent, session_id, "answer", "c-2")

    as_agent = api.get(f"/api/sessions/{session_id}/messages", agent).json_body
    as_visitor = api.get(f"/api/sessions/{session_id}/messages", visitor).json_body

    assert [m["text"] for m in _said(as_agent["messages"])] == ["answer", "question"]
    assert as_agent["messages"] == as_visitor["messages"]
    assert as_agent["next"] is None


def test_history_limit_outside_1_to_100_is_refused(api, chat):
    agent, visitor, session_id = chat

    answers = {limit: api.get(f"/api/sessions/{session_id}/messages?limit={limit}", visitor).status_code
               for limit in ("0", "101", "-5", "ten")}

    assert answers == {"0": 422, "101": 422, "-5": 422, "ten": 400}


# --- ending ------------------------------------------------------------------------------------------


def test_after_end_a_new_message_is_a_conflict_and_is_not_stored(api, chat):
    agent, visitor, session_id = chat
    _post(api, visitor, session_id, "bye", "c-1")

    ended = api.post(f"/api/sessions/{session_id}/end", visitor)
    late = _post(api, agent, session_id, "wait!", "c-2")

    assert ended.status_code == 200
    assert (ended.json_body["status"], ended.json_body["ended_by"]) == ("ended", visitor.user_id)
    assert late.status_code == 409
    assert late.json_body["error"] == "conflict"
    assert _post(api, agent, session_id, "wait!", "c-2").status_code == 409
    assert _stored_texts(session_id) == ["bye"]


def test_ending_frees_the_agents_slot(api, chat):
    agent, visitor, session_id = chat

    api.post(f"/api/sessions/{session_id}/end", agent)

    assert _overview(api, agent)[agent.user_id]["active"] == 0
    assert api.get(f"/api/kefu/customer/{visitor.user_id}", agent).status_code == 404


def test_ending_an_ended_session_is_a_conflict(api, chat):
    agent, visitor, session_id = chat
    api.post(f"/api/sessions/{session_id}/end", visitor)

    again = api.post(f"/api/sessions/{session_id}/end", agent)

    assert again.status_code == 409
    assert _overview(api, agent)[agent.user_id]["active"] == 0


def test_another_agent_cannot_end_a_session(api, chat, bob):
    agent, visitor, session_id = chat

    response = api.post(f"/api/sessions/{session_id}/end", bob)

    assert response.status_code == 403
    assert SessionModel.get(session_id).status == "active"


# --- manual accept ---------------------------------------------------------------------------------


@pytest.fixture
def away_agent(api, people):
    """An agent who is away, so customers wait in the queue until taken by hand."""
    def make(username: str, capacity: int | None = None):
        agent = people.agent(username, capacity=capacity)
        assert api.put("/api/agents/me/status", agent, body={"status": "away"}).status_code == 200
        return agent
    return make


def test_agent_accepts_a_waiting_session_by_hand(api, people, away_agent):
    agent = away_agent("alice")
    visitor = people.visitor("Ann")
    session_id = people.start_session(visitor).session.session_id

    response = api.post(f"/api/sessions/{session_id}/accept", agent)

    assert response.status_code == 200
    assert response.json_body["status"] == "active"
    assert response.json_body["agent"]["id"] == agent.user_id
    assert _overview(api, agent)[agent.user_id]["active"] == 1
    assert api.get("/api/kefu/queue", agent).json_body["queue"] == []
    assert api.get(f"/api/kefu/customer/{visitor.user_id}", agent).json_body["agent"]["id"] == agent.user_id


def test_accept_at_capacity_is_capacity_full(api, people, away_agent):
    agent = away_agent("alice", capacity=1)
    first = people.start_session(people.visitor("Ann")).session.session_id
    second = people.start_session(people.visitor("Ben")).session.session_id
    assert api.post(f"/api/sessions/{first}/accept", agent).status_code == 200

    response = api.post(f"/api/sessions/{second}/accept", agent)

    assert response.status_code == 409
    assert response.json_body["error"] == "capacity_full"
    assert SessionModel.get(second).status == "queued"
    assert _overview(api, agent)[agent.user_id]["active"] == 1


def test_accepting_a_session_someone_already_took_is_a_conflict(api, people, away_agent):
    alice = away_agent("alice")
    bob = away_agent("bob")
    session_id = people.start_session(people.visitor("Ann")).session.session_id
    assert api.post(f"/api/sessions/{session_id}/accept", alice).status_code == 200

    response = api.post(f"/api/sessions/{session_id}/accept", bob)

    assert response.status_code == 409
    assert response.json_body["error"] == "conflict"
    counts = _overview(api, alice)
    assert (counts[alice.user_id]["active"], counts[bob.user_id]["active"]) == (1, 0)
    assert SessionModel.get(session_id).agent_id == alice.user_id


def test_an_offline_agent_cannot_accept(api, people):
    agent = people.agent("alice")
    session_id = people.start_session(people.visitor("Ann")).session.session_id

    response = api.post(f"/api/sessions/{session_id}/accept", agent)

    assert response.status_code == 409
    assert SessionModel.get(session_id).status == "queued"


def test_accepting_an_unknown_session_is_not_found(api, away_agent):
    agent = away_agent("alice")

    assert api.post("/api/sessions/s_doesnotexist/accept", agent).status_code == 404


def test_the_admins_list_by_status_shows_each_session_as_stored_however_far_the_index_lags(api, people, chat,
                                                                                           bob):
    agent, visitor, session_id = chat
    admin = people.admin()
    people.bring_online(bob)
    ended_visitor = people.visitor("Cy")
    ended_id = people.start_session(ended_visitor).session.session_id
    lagging = {"gsi_lag_ms": 60_000, "lag_spike": 0, "stale_read": 0, "tx_conflict": 0, "write_conflict": 0,
               "throttle": 0, "lost_response": 0}
    with simulated_aws(**lagging):  # every index a minute behind the writes from here on
        moved = api.post(f"/api/sessions/{session_id}/transfer", agent, body={"agent_id": bob.user_id})
        assert moved.status_code == 200
        assert api.post(f"/api/sessions/{ended_id}/end", ended_visitor).status_code == 200

        active = api.get("/api/sessions?status=active", admin).json_body["sessions"]

    assert [(s["session_id"], s["agent"]["id"]) for s in active] == [(session_id, bob.user_id)]


# --- transfer ------------------------------------------------------------------------------------


def test_agent_transfers_a_session_to_a_named_agent(api, people, chat, bob):
    agent, visitor, session_id = chat
    people.bring_online(bob)

    response = api.post(f"/api/sessions/{session_id}/transfer", agent, body={"agent_id": bob.user_id})

    assert response.status_code == 200
    assert response.json_body["agent"]["id"] == bob.user_id
    assert response.json_body["transfer_count"] == 1
    counts = _overview(api, agent)
    assert (counts[agent.user_id]["active"], counts[bob.user_id]["active"]) == (0, 1)
    assert api.get(f"/api/kefu/customer/{visitor.user_id}", bob).json_body["agent"]["id"] == bob.user_id
    assert api.get(f"/api/sessions/{session_id}", bob).status_code == 200
    assert api.get(f"/api/sessions/{session_id}", agent).status_code == 403
    assert _post(api, bob, session_id, "I'll take it from here", "b-1").status_code == 201


def test_transfer_without_an_agent_goes_to_the_next_best_agent(api, people):
    alice = people.agent("alice", online=True)
    first = people.visitor("Ann")
    session_id = people.start_session(first).session.session_id
    bob = people.agent("bob", capacity=4, online=True)
    people.start_session(people.visitor("Ben"))
    carol = people.agent("carol", capacity=4, online=True)
    counts = _overview(api, alice)
    assert [counts[a.user_id]["active"] for a in (alice, bob, carol)] == [1, 1, 0]

    response = api.post(f"/api/sessions/{session_id}/transfer", alice, body={})

    assert response.status_code == 200
    assert response.json_body["agent"]["id"] == carol.user_id
    counts = _overview(api, alice)
    assert [counts[a.user_id]["active"] for a in (alice, bob, carol)] == [0, 1, 1]


def test_transfer_to_an_agent_at_capacity_is_refused_and_moves_nothing(api, people):
    alice = people.agent("alice", online=True)
    session_id = people.start_session(people.visitor("Ann")).session.session_id
    bob = people.agent("bob", capacity=1, online=True)
    people.start_session(people.visitor("Ben"))

    response = api.post(f"/api/sessions/{session_id}/transfer", alice, body={"agent_id": bob.user_id})

    assert response.status_code == 409
    assert response.json_body["error"] == "capacity_full"
    counts = _overview(api, alice)
    assert (counts[alice.user_id]["active"], counts[bob.user_id]["active"]) == (1, 1)
    assert SessionModel.get(session_id).agent_id == alice.user_id


@pytest.mark.parametrize("status", ["offline", "away"])
def test_transfer_to_an_agent_who_is_not_online_is_refused_and_moves_nothing(api, chat, bob, status):
    agent, visitor, session_id = chat
    api.put("/api/agents/me/status", bob, body={"status": status})

    response = api.post(f"/api/sessions/{session_id}/transfer", agent, body={"agent_id": bob.user_id})

    assert response.status_code == 409
    counts = _overview(api, agent)
    assert (counts[agent.user_id]["active"], counts[bob.user_id]["active"]) == (1, 0)
    assert SessionModel.get(session_id).agent_id == agent.user_id


def test_transfer_with_nobody_else_available_is_refused(api, chat):
    agent, visitor, session_id = chat

    response = api.post(f"/api/sessions/{session_id}/transfer", agent, body={})

    assert response.status_code == 409
    assert SessionModel.get(session_id).agent_id == agent.user_id
    assert _overview(api, agent)[agent.user_id]["active"] == 1


def test_an_agent_cannot_transfer_a_session_that_is_not_theirs(api, people, chat, bob):
    agent, visitor, session_id = chat
    people.bring_online(bob)

    response = api.post(f"/api/sessions/{session_id}/transfer", bob, body={"agent_id": bob.user_id})

    assert response.status_code == 403
    assert SessionModel.get(session_id).agent_id == agent.user_id


def test_admin_transfers_any_session(api, people, chat, bob):
    agent, visitor, session_id = chat
    admin = people.admin()
    people.bring_online(bob)

    response = api.post(f"/api/sessions/{session_id}/transfer", admin, body={"agent_id": bob.user_id})

    assert response.status_code == 200
    assert SessionModel.get(session_id).agent_id == bob.user_id


def test_transfer_to_the_agent_who_already_has_the_session_is_refused(api, chat):
    agent, visitor, session_id = chat

    response = api.post(f"/api/sessions/{session_id}/transfer", agent, body={"agent_id": agent.user_id})

    assert response.status_code == 422
    assert SessionModel.get(session_id).transfer_count == 0
    assert _overview(api, agent)[agent.user_id]["active"] == 1


def test_a_waiting_session_cannot_be_transferred(api, people):
    admin = people.admin()
    session_id = people.start_session(people.visitor("Ann")).session.session_id

    response = api.post(f"/api/sessions/{session_id}/transfer", admin, body={})

    assert response.status_code == 409
    assert SessionModel.get(session_id).status == "queued"


def test_transfer_to_an_unknown_agent_is_not_found(api, chat):
    agent, visitor, session_id = chat

    response = api.post(f"/api/sessions/{session_id}/transfer", agent, body={"agent_id": "a_nobody"})

    assert response.status_code == 404
    assert SessionModel.get(session_id).agent_id == agent.user_id


def test_a_transferred_session_cannot_be_transferred_back_by_its_former_agent(api, people, chat, bob):
    agent, visitor, session_id = chat
    people.bring_online(bob)
    api.post(f"/api/sessions/{session_id}/transfer", agent, body={"agent_id": bob.user_id})

    response = api.post(f"/api/sessions/{session_id}/transfer", agent, body={"agent_id": agent.user_id})

    assert response.status_code == 403
    assert SessionModel.get(session_id).agent_id == bob.user_id


def test_the_live_count_of_agents_online_follows_a_status_change_however_far_the_index_lags(api, people):
    admin = people.admin()
    alice = people.agent("alice", online=True)
    people.agent("bob", online=True)
    lagging = {"gsi_lag_ms": 60_000, "lag_spike": 0, "stale_read": 0, "tx_conflict": 0, "write_conflict": 0,
               "throttle": 0, "lost_response": 0}
    with simulated_aws(**lagging):
        assert api.put("/api/agents/me/status", alice, body={"status": "offline"}).status_code == 200

        live = api.get("/api/sessions/statistics", admin).json_body["live"]

    assert live["agents_online"] == 1


def test_a_visitors_list_by_status_shows_a_session_that_just_reached_it_however_far_the_index_lags(
        api, people, chat):
    """The visitor's ``?status=`` listing asked DynamoDB to filter the index's copies by status, so
    a conversation ended a moment ago (its copy still ``active``) was missing from ``ended``."""
    agent, visitor, session_id = chat
    lagging = {"gsi_lag_ms": 60_000, "lag_spike": 0, "stale_read": 0, "tx_conflict": 0, "write_conflict": 0,
               "throttle": 0, "lost_response": 0}
    with simulated_aws(**lagging):  # every index a minute behind the writes from here on
        assert api.post(f"/api/sessions/{session_id}/end", visitor).status_code == 200
        ended = api.get("/api/sessions?status=ended", visitor).json_body["sessions"]
        active = api.get("/api/sessions?status=active", visitor).json_body["sessions"]

    assert [(s["session_id"], s["status"]) for s in ended] == [(session_id, "ended")]
    assert active == []
