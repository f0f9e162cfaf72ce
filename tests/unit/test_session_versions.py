"""Session versions: one more with every change of a session's state, in the write that changes it,
and never otherwise; what the services answer carries the version of the state it shows."""

from __future__ import annotations

from chalicelib import clock
from chalicelib.models import SessionModel
from chalicelib.services import agents, assignment, chat, connections, receipts, session_lists, tokens, visitors
from chalicelib.services.assignment.queue import QUEUE_POOL
from chalicelib.services.tokens import Principal


def _agent(name: str, status: str = "online") -> Principal:
    agent = agents.create_agent(name, "password123", name.title(), "agent", 1)
    assignment.agent_heartbeat(agent.agent_id)
    assignment.set_status(agent.agent_id, status)
    return Principal(agent.agent_id, "agent", "agent", agent.display_name)


def _visitor(name: str) -> Principal:
    """A visitor with an open socket (one without is gone when their agent leaves)."""
    principal = tokens.verify(visitors.sign_up(name, None)["token"])
    connections.register(f"conn-{principal.user_id}", principal, None, None)
    connections.add_visitor_socket(principal.user_id, f"conn-{principal.user_id}")
    return principal


def _version(session_id: str) -> int:
    return SessionModel.fetch(session_id).state_version


def test_every_change_of_state_moves_the_version_on_by_one_and_nothing_else_does(tables):
    visitor = _visitor("ann")
    started = chat.start_session(visitor, "billing").session
    session_id = started.session_id
    seen = [("queued", _version(session_id))]
    chat.send_message(visitor, session_id, "c-1", "anyone?")
    seen.append(("message while waiting", _version(session_id)))

    alice = _agent("alice")
    seen.append(("assigned", _version(session_id)))
    reply, _ = chat.send_message(alice, session_id, "a-1", "hello")
    receipts.mark_read(visitor, session_id, reply.message_id)
    chat.typing(visitor, session_id, True)
    seen.append(("messages, receipts, typing", _version(session_id)))
    assignment.set_status(alice.user_id, "offline")
    seen.append(("handed back", _version(session_id)))
    bob = _agent("bob")
    seen.append(("assigned again", _version(session_id)))
    _agent("carl")
    moved = assignment.transfer(session_id, None, bob.user_id)
    seen.append(("transferred", _version(session_id)))
    ended = chat.end_session(visitor, session_id)
    seen.append(("ended", _version(session_id)))
    rated = chat.rate_session(visitor, session_id, 5, None)
    seen.append(("rated", _version(session_id)))

    assert seen == [("queued", 1), ("message while waiting", 1), ("assigned", 2),
                    ("messages, receipts, typing", 2), ("handed back", 3), ("assigned again", 4),
                    ("transferred", 5), ("ended", 6), ("rated", 7)]
    assert (moved.session.to_public()["version"], ended.to_public()["version"]) == (5, 6)
    assert chat.state_for(visitor, session_id).frame()["version"] == 7
    assert rated.state_version == 7


def test_a_session_stored_before_versions_existed_counts_its_versions_from_one(tables):
    visitor = _visitor("old")
    now = clock.iso()
    legacy = SessionModel("s_legacy", visitor_id=visitor.user_id, status="queued", created_at=now,
                          created_day=now[:10], queued_at=now)
    legacy.save()
    assignment.enqueue(legacy)  # back in the queue index, as the sweep's repair puts it
    assert chat.state_for(visitor, "s_legacy").frame()["version"] == 0

    alice = _agent("alice")

    assert SessionModel.fetch("s_legacy").agent_id == alice.user_id
    assert _version("s_legacy") == 1
    assert chat.end_session(visitor, "s_legacy").state_version == 2


def test_a_position_read_now_is_ordered_after_every_announcement_drawn_before_it(tables):
    visitor = _visitor("ann")
    waiting = chat.start_session(visitor).session
    assignment.announce_positions()
    assignment.announce_positions()
    drawn = assignment.last_announcement()

    told = chat.state_for(visitor, waiting.session_id).frame()

    assert told["type"] == "session.queued" and told["position"] == 1
    assert told["version"] == 1 and told["position_seq"] > drawn >= 2


def test_a_position_told_on_request_does_not_count_a_leaver_the_lagging_index_still_lists(tables, monkeypatch):
    first, second = _visitor("first"), _visitor("second")
    leaving = chat.start_session(first).session
    staying = chat.start_session(second).session
    index_before = [s for s in SessionModel.queue.query(QUEUE_POOL) if s.session_id != staying.session_id]
    chat.end_session(first, leaving.session_id)
    # Within the index lag the queue index still lists (and counts) the customer who just left.
    monkeypatch.setattr(SessionModel.queue, "query", lambda *args, **kwargs: iter(index_before))
    monkeypatch.setattr(SessionModel.queue, "count", lambda *args, **kwargs: len(index_before))

    told = chat.state_for(second, staying.session_id).frame()

    assert told["type"] == "session.queued" and told["position"] == 1


def test_a_visitors_listing_shows_a_session_as_stored_though_the_index_still_shows_it_active(tables, monkeypatch):
    alice = _agent("alice")
    assert alice is not None
    visitor = _visitor("lister")
    session = chat.start_session(visitor).session
    index_before = list(SessionModel.by_visitor.query(visitor.user_id))
    chat.end_session(visitor, session.session_id)
    # Within the index lag the visitor's index still shows the session as it was (active).
    monkeypatch.setattr(SessionModel.by_visitor, "query", lambda *args, **kwargs: iter(index_before))

    listed = session_lists.own_sessions(visitor)

    assert [(s.session_id, s.status, s.state_version) for s in listed] == \
        [(session.session_id, "ended", SessionModel.get(session.session_id, consistent_read=True).state_version)]
