"""/api/inbox (closed conversations, search) and /api/customers (the customer panel)."""

from __future__ import annotations

from chalicelib.services import chat, connections
from tests.conftest import simulated_aws

# Every index a minute behind the writes made while it is in force, and nothing else unkind.
LAGGING = {"gsi_lag_ms": 60_000, "lag_spike": 0, "stale_read": 0, "tx_conflict": 0, "write_conflict": 0,
           "throttle": 0, "lost_response": 0}
CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/126.0.0.0 Safari/537.36")


def _chat_and_end(api, people, agent, name: str, email: str | None = None) -> str:
    visitor = people.visitor(name)
    if email:
        visitor = _with_email(api, name, email)
    session_id = people.start_session(visitor).session.session_id
    assert api.post(f"/api/sessions/{session_id}/end", agent).status_code == 200
    return session_id


def _with_email(api, name: str, email: str):
    from tests.api.conftest import Caller

    body = api.post("/api/visitors", body={"name": name, "email": email}).json_body
    return Caller(body["visitor_id"], body["token"], name)


def test_closed_conversations_page_back_newest_first(api, people):
    alice = people.agent("alice", display_name="Alice", online=True)
    ended = [_chat_and_end(api, people, alice, f"Customer {n}") for n in range(5)]

    pages, cursor = [], None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = api.get(f"/api/inbox/closed?{query}", alice).json_body
        pages.append([s["session_id"] for s in body["sessions"]])
        cursor = body["next"]
        if cursor is None:
            break

    assert pages == [ended[4:2:-1], ended[2:0:-1], ended[:1]]


def test_an_agent_lists_only_their_own_closed_conversations_and_an_admin_everyones(api, people):
    alice = people.agent("alice", online=True)
    mine = _chat_and_end(api, people, alice, "Ann")
    people.bring_online(people.agent("bob"))
    api.put("/api/agents/me/status", alice, body={"status": "offline"})
    bob = people.login("bob")
    theirs = _chat_and_end(api, people, bob, "Ben")

    assert [s["session_id"] for s in api.get("/api/inbox/closed", alice).json_body["sessions"]] == [mine]
    assert api.get("/api/inbox/closed?scope=all", alice).status_code == 403
    everyone = api.get("/api/inbox/closed?scope=all", people.admin("root")).json_body["sessions"]
    assert [s["session_id"] for s in everyone] == [theirs, mine]


def test_search_finds_conversations_by_a_customers_name_a_word_of_it_their_email_or_the_id(api, people):
    alice = people.agent("alice", online=True)
    zoe = _chat_and_end(api, people, alice, "Zoë Quinn", "zoe.q@example.com")
    _chat_and_end(api, people, alice, "Ann Other")

    def found(q: str) -> list[str]:
        response = api.get(f"/api/inbox/search?q={q}", alice)
        assert response.status_code == 200, response.body
        return [s["session_id"] for s in response.json_body["sessions"]]

    assert found("zoë") == [zoe]
    assert found("QUINN") == [zoe]
    assert found("zoe.q@ex") == [zoe]
    assert found(zoe) == [zoe]
    assert found("nobody") == []


def test_search_shows_an_agent_only_conversations_they_may_read(api, people):
    alice = people.agent("alice", online=True)
    _chat_and_end(api, people, alice, "Zed")

    assert api.get("/api/inbox/search?q=zed", people.agent("bob")).json_body["sessions"] == []
    assert len(api.get("/api/inbox/search?q=zed", people.admin("root")).json_body["sessions"]) == 1


def test_the_customer_panel_names_the_browser_and_os_and_lists_earlier_conversations(api, people):
    alice = people.agent("alice", online=True)
    visitor = _with_email(api, "Ann", "ann@example.com")
    earlier = people.start_session(visitor).session.session_id
    api.post(f"/api/sessions/{earlier}/end", alice)
    connections.register("ann-socket", visitor.principal, "203.0.113.9", CHROME)
    connections.add_visitor_socket(visitor.user_id, "ann-socket")
    current = people.start_session(visitor).session.session_id

    response = api.get(f"/api/customers/{visitor.user_id}", alice)

    assert response.status_code == 200, response.body
    panel = response.json_body
    assert (panel["name"], panel["email"], panel["verified"]) == ("Ann", "ann@example.com", False)
    assert panel["browser"] == {"name": "Chrome", "version": "126.0"}
    assert panel["os"]["name"] == "Linux"
    assert [s["session_id"] for s in panel["sessions"]] == [current, earlier]


def test_the_customer_panel_shows_the_page_context_and_what_identify_stored(api, people):
    """The shapes #19 stores: the widget's page context on the conversation, identify's verified
    flag and attributes on the customer."""
    from chalicelib.models import SessionModel, VisitorModel

    alice = people.agent("alice", online=True)
    visitor = people.visitor("Ann")
    session_id = people.start_session(visitor).session.session_id
    SessionModel(session_id).update(actions=[SessionModel.context.set({
        "url": "https://shop.example/cart", "title": "Your cart", "referrer": "https://search.example/",
        "language": "de-DE", "timezone": "Europe/Berlin", "user_agent": CHROME})])
    VisitorModel(visitor.user_id).update(actions=[VisitorModel.verified.set(True),
                                                  VisitorModel.attributes.set({"plan": "pro", "orders": 3})])

    panel = api.get(f"/api/customers/{visitor.user_id}?session_id={session_id}", alice).json_body

    assert panel["context"] == {"page_url": "https://shop.example/cart", "page_title": "Your cart",
                                "referrer": "https://search.example/", "language": "de-DE",
                                "time_zone": "Europe/Berlin", "user_agent": CHROME}
    assert panel["browser"]["name"] == "Chrome" and panel["os"]["name"] == "Linux"
    assert panel["verified"] is True and panel["attributes"] == {"plan": "pro", "orders": 3}


def test_the_customer_panel_shows_the_conversation_on_screen_as_stored_not_the_lagging_index_copy(
        api, people, monkeypatch):
    from chalicelib.models import SessionModel

    alice = people.agent("alice", online=True)
    visitor = people.visitor("Ann")
    session_id = people.start_session(visitor).session.session_id
    index_before = list(SessionModel.by_visitor.query(visitor.user_id))
    SessionModel(session_id).update(actions=[SessionModel.context.set({"url": "https://shop.example/cart"})])
    # Within the index lag the visitor's index still holds the conversation as it was.
    monkeypatch.setattr(SessionModel.by_visitor, "query", lambda *args, **kwargs: iter(index_before))

    panel = api.get(f"/api/customers/{visitor.user_id}?session_id={session_id}", alice).json_body

    assert panel["context"]["page_url"] == "https://shop.example/cart"
    assert [s["session_id"] for s in panel["sessions"]] == [session_id]


def test_the_customer_panel_shows_an_earlier_conversation_ended_a_moment_ago_as_ended(api, people, monkeypatch):
    """The console opens a listed conversation read-only from the status the panel gives; the
    index's copy of one ended a moment ago may still say active."""
    from chalicelib.models import SessionModel

    alice = people.agent("alice", online=True)
    visitor = people.visitor("Ann")
    earlier = people.start_session(visitor).session.session_id
    index_before = list(SessionModel.by_visitor.query(visitor.user_id))
    assert api.post(f"/api/sessions/{earlier}/end", alice).status_code == 200
    current = people.start_session(visitor).session.session_id
    monkeypatch.setattr(SessionModel.by_visitor, "query", lambda *args, **kwargs: iter(index_before))

    panel = api.get(f"/api/customers/{visitor.user_id}?session_id={current}", alice).json_body

    statuses = {s["session_id"]: s["status"] for s in panel["sessions"]}
    assert statuses == {current: "active", earlier: "ended"}
    assert [s["session_id"] for s in panel["sessions"]] == [current, earlier]


def test_an_agent_serving_a_customer_opens_their_earlier_conversation_with_someone_else(api, people):
    alice = people.agent("alice", online=True)
    visitor = people.visitor("Ann")
    earlier = people.start_session(visitor).session.session_id
    chat.send_message(visitor.principal, earlier, "c-1", "my first question")
    api.post(f"/api/sessions/{earlier}/end", alice)
    api.put("/api/agents/me/status", alice, body={"status": "offline"})
    bob = people.agent("bob", online=True)
    stranger = people.agent("carol")
    people.start_session(visitor)

    as_bob = api.get(f"/api/sessions/{earlier}/messages", bob)

    assert as_bob.status_code == 200, as_bob.body
    assert "my first question" in [m["text"] for m in as_bob.json_body["messages"]]
    assert api.get(f"/api/sessions/{earlier}/messages", stranger).status_code == 403
    assert api.get(f"/api/customers/{visitor.user_id}", stranger).status_code == 403
    assert api.post(f"/api/sessions/{earlier}/messages", bob,
                    body={"text": "x", "client_msg_id": "b-1"}).status_code == 403  # reading is not writing


def test_a_conversation_ended_a_moment_ago_is_listed_as_ended_however_far_the_index_lags(api, people):
    """Search, the Closed tab and the agent's session list show it as stored: the console opens a
    listed conversation writable or read-only by the status it is given."""
    alice = people.agent("alice", display_name="Alice", online=True)
    dora = people.visitor("Dora")
    session_id = people.start_session(dora).session.session_id
    with simulated_aws(**LAGGING):
        assert api.post(f"/api/sessions/{session_id}/end", alice).status_code == 200

        found = api.get("/api/inbox/search?q=Dora", alice).json_body["sessions"]
        closed = api.get("/api/inbox/closed", alice).json_body["sessions"]
        listed = api.get("/api/sessions?status=ended", alice).json_body["sessions"]
        active = api.get("/api/sessions", alice).json_body["sessions"]

    assert [(s["session_id"], s["status"]) for s in found] == [(session_id, "ended")]
    assert [(s["session_id"], s["status"]) for s in closed] == [(session_id, "ended")]
    assert [s["session_id"] for s in listed] == [session_id]
    assert [(s["session_id"], s["status"]) for s in active] == [(session_id, "ended")]


def test_a_conversation_transferred_a_moment_ago_leaves_the_first_agents_lists_however_far_the_index_lags(
        api, people):
    alice = people.agent("alice", online=True)
    admin = people.admin()
    dora = people.visitor("Dora")
    session_id = people.start_session(dora).session.session_id
    bob = people.agent("bob", online=True)
    with simulated_aws(**LAGGING):
        moved = api.post(f"/api/sessions/{session_id}/transfer", alice, body={"agent_id": bob.user_id})
        assert moved.status_code == 200, moved.body

        alices = api.get("/api/sessions", alice).json_body["sessions"]
        by_admin = api.get(f"/api/sessions?agent_id={alice.user_id}", admin).json_body["sessions"]
        found = api.get("/api/inbox/search?q=Dora", bob).json_body["sessions"]

    assert alices == [] and by_admin == []
    assert [(s["session_id"], s["agent"]["id"]) for s in found] == [(session_id, bob.user_id)]


def test_the_customer_panel_lists_the_conversation_on_screen_beyond_the_newest_it_lists(api, people, monkeypatch):
    from chalicelib.services import customers

    monkeypatch.setattr(customers, "HISTORY", 2)
    alice = people.agent("alice", online=True)
    visitor = people.visitor("Ann")
    ended = [_end(api, alice, people.start_session(visitor).session.session_id) for _ in range(3)]

    panel = api.get(f"/api/customers/{visitor.user_id}?session_id={ended[0]}", alice)

    assert panel.status_code == 200, panel.body
    assert [s["session_id"] for s in panel.json_body["sessions"]] == [ended[2], ended[1], ended[0]]


def _end(api, agent, session_id: str) -> str:
    assert api.post(f"/api/sessions/{session_id}/end", agent).status_code == 200
    return session_id
