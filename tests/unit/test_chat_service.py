"""chat service: history order, read receipts, ending, rating, one open session per visitor."""

from __future__ import annotations

import itertools
import types

import pytest

from chalicelib import clock
from chalicelib.errors import Conflict, Forbidden, NotFound, Unavailable, ValidationFailed
from chalicelib.models import MessageModel, SessionModel
from chalicelib.services import agents, assignment, chat, receipts, session_lists, tokens, visitors
from chalicelib.services.tokens import Principal
from tests import faults

_ids = itertools.count(1)


def _visitor(name: str = "Ann") -> Principal:
    return tokens.verify(visitors.sign_up(name, None)["token"])


def _online_agent(name: str = "alice", role: str = "agent") -> Principal:
    agent = agents.create_agent(name, "password123", name.title(), role)
    assignment.agent_heartbeat(agent.agent_id)
    assignment.set_status(agent.agent_id, "online")
    return Principal(agent.agent_id, "agent", role, agent.display_name)


@pytest.fixture
def conversation(tables):
    """An online agent and a visitor whose session was assigned to them."""
    agent = _online_agent()
    visitor = _visitor()
    session = chat.start_session(visitor, "billing").session
    assert session.agent_id == agent.user_id
    return visitor, agent, session.session_id


def _send(principal: Principal, session_id: str, text: str) -> MessageModel:
    message, is_new = chat.send_message(principal, session_id, f"c-{next(_ids)}", text)
    assert is_new
    return message


def _read_at(session_id: str) -> dict[str, str | None]:
    """When each message people wrote was read (system lines are nobody's to read)."""
    return {m.text: m.read_at for m in MessageModel.query(session_id, consistent_read=True)
            if m.sender_type != "system"}


def _said(page: dict) -> list[dict]:
    """The messages of a history page that people wrote (not the session's system lines)."""
    return [m for m in page["messages"] if m["sender"]["type"] != "system"]


# --- history order -------------------------------------------------------------------------------


def test_history_returns_messages_in_the_order_they_were_stored(conversation):
    visitor, agent, session_id = conversation
    stored = [_send(visitor if n % 3 else agent, session_id, f"m{n}").message_id for n in range(15)]

    page = chat.history(agent, session_id, limit=100)

    assert [m["id"] for m in reversed(_said(page))] == stored
    assert [m["text"] for m in reversed(_said(page))] == [f"m{n}" for n in range(15)]
    assert page["next"] is None


def test_history_keeps_storage_order_for_messages_stored_within_one_millisecond(conversation, monkeypatch):
    visitor, agent, session_id = conversation
    frozen = clock.epoch()
    monkeypatch.setattr(clock, "time", types.SimpleNamespace(time=lambda: frozen, time_ns=lambda: int(frozen * 1e9)))
    stored = [_send(visitor, session_id, f"m{n}").message_id for n in range(12)]

    page = chat.history(agent, session_id, limit=100)

    assert [m["id"] for m in reversed(_said(page))] == stored


def test_history_pages_join_up_exactly(conversation):
    visitor, agent, session_id = conversation
    stored = [_send(visitor, session_id, f"m{n}").message_id for n in range(7)]

    seen, before = [], None
    while True:
        page = chat.history(visitor, session_id, before=before, limit=3)
        seen.extend(m["id"] for m in _said(page))
        before = page["next"]
        if before is None:
            break

    assert seen == list(reversed(stored))


# --- read receipts -------------------------------------------------------------------------------


def test_mark_read_marks_only_the_other_partys_messages_up_to_the_given_id(conversation):
    visitor, agent, session_id = conversation
    _send(visitor, session_id, "v1")
    v2 = _send(visitor, session_id, "v2")
    _send(agent, session_id, "a1")
    _send(visitor, session_id, "v3")

    result = receipts.mark_read(agent, session_id, v2.message_id)

    assert result["updated"] == 2
    read = _read_at(session_id)
    assert read["v1"] is not None and read["v2"] is not None
    assert read["a1"] is None
    assert read["v3"] is None


def test_mark_read_up_to_ones_own_message_reads_the_others_before_it(conversation):
    visitor, agent, session_id = conversation
    _send(agent, session_id, "a1")
    _send(visitor, session_id, "v1")
    a2 = _send(agent, session_id, "a2")
    _send(agent, session_id, "a3")

    receipts.mark_read(agent, session_id, a2.message_id)

    read = _read_at(session_id)
    assert read["v1"] is not None
    assert [read["a1"], read["a2"], read["a3"]] == [None, None, None]


def test_mark_read_of_a_long_backlog_is_done_in_bounded_steps(conversation, monkeypatch):
    visitor, agent, session_id = conversation
    sent = [_send(visitor, session_id, f"v{n}") for n in range(5)]
    monkeypatch.setattr(receipts, "MARK_READ_BATCH", 3)

    first = receipts.mark_read(agent, session_id, sent[-1].message_id)
    second = receipts.mark_read(agent, session_id, sent[-1].message_id)

    assert (first["updated"], first["up_to"], first["complete"]) == (3, sent[2].message_id, False)
    assert (second["updated"], second["up_to"], second["complete"]) == (2, sent[-1].message_id, True)
    assert all(read is not None for read in _read_at(session_id).values())


def test_mark_read_is_monotonic_an_older_id_later_does_not_unread(conversation):
    visitor, agent, session_id = conversation
    v1 = _send(visitor, session_id, "v1")
    v2 = _send(visitor, session_id, "v2")
    receipts.mark_read(agent, session_id, v2.message_id)
    before = _read_at(session_id)

    result = receipts.mark_read(agent, session_id, v1.message_id)

    assert result["updated"] == 0
    assert result["up_to"] == v2.message_id
    assert _read_at(session_id) == before
    assert SessionModel.get(session_id).agent_read_up_to == v2.message_id


def test_mark_read_further_on_reads_only_the_new_messages(conversation):
    visitor, agent, session_id = conversation
    v1 = _send(visitor, session_id, "v1")
    receipts.mark_read(agent, session_id, v1.message_id)
    first_read_at = _read_at(session_id)["v1"]
    v2 = _send(visitor, session_id, "v2")

    result = receipts.mark_read(agent, session_id, v2.message_id)

    assert result["updated"] == 1
    assert _read_at(session_id)["v1"] == first_read_at
    assert _read_at(session_id)["v2"] is not None


def test_each_party_has_its_own_read_watermark(conversation):
    visitor, agent, session_id = conversation
    v1 = _send(visitor, session_id, "v1")
    a1 = _send(agent, session_id, "a1")
    receipts.mark_read(agent, session_id, v1.message_id)

    receipts.mark_read(visitor, session_id, a1.message_id)

    read = _read_at(session_id)
    assert read["v1"] is not None and read["a1"] is not None
    stored = SessionModel.get(session_id)
    assert (stored.agent_read_up_to, stored.visitor_read_up_to) == (v1.message_id, a1.message_id)


def test_mark_read_of_an_unknown_message_is_not_found(conversation):
    visitor, agent, session_id = conversation

    with pytest.raises(NotFound):
        receipts.mark_read(agent, session_id, "9999999999999ffffffffffff")


def test_a_stranger_cannot_mark_messages_read(conversation):
    visitor, agent, session_id = conversation
    v1 = _send(visitor, session_id, "v1")

    with pytest.raises(Forbidden):
        receipts.mark_read(_visitor("Eve"), session_id, v1.message_id)
    assert _read_at(session_id) == {"v1": None}


# --- ending and rating ---------------------------------------------------------------------------


def test_ending_a_session_twice_is_a_conflict(conversation):
    visitor, agent, session_id = conversation
    ended = chat.end_session(visitor, session_id)

    with pytest.raises(Conflict):
        chat.end_session(agent, session_id)

    assert (ended.status, ended.ended_by, ended.end_reason) == ("ended", visitor.user_id, "ended_by_visitor")
    assert int(agents.get_agent(agent.user_id).active_count) == 0


def test_the_visitor_rates_an_ended_session_once(conversation):
    visitor, agent, session_id = conversation
    chat.end_session(agent, session_id)

    chat.rate_session(visitor, session_id, 4, "quick and kind")

    with pytest.raises(Conflict):
        chat.rate_session(visitor, session_id, 1, "changed my mind")
    stored = SessionModel.get(session_id)
    assert (stored.rating, stored.rating_comment) == (4, "quick and kind")


def test_an_open_session_cannot_be_rated(conversation):
    visitor, agent, session_id = conversation

    with pytest.raises(Conflict):
        chat.rate_session(visitor, session_id, 5, None)

    assert SessionModel.get(session_id).rating is None


def test_an_agent_cannot_rate_a_session(conversation):
    visitor, agent, session_id = conversation
    chat.end_session(visitor, session_id)

    with pytest.raises(Forbidden):
        chat.rate_session(agent, session_id, 5, None)

    assert SessionModel.get(session_id).rating is None


def test_another_visitor_cannot_rate_a_session(conversation):
    visitor, agent, session_id = conversation
    chat.end_session(visitor, session_id)

    with pytest.raises(Forbidden):
        chat.rate_session(_visitor("Eve"), session_id, 1, None)

    assert SessionModel.get(session_id).rating is None


def test_a_rating_outside_1_to_5_is_refused_and_leaves_the_rating_open(conversation):
    visitor, agent, session_id = conversation
    chat.end_session(visitor, session_id)

    for rating in (0, 6, -1):
        with pytest.raises(ValidationFailed):
            chat.rate_session(visitor, session_id, rating, None)

    assert SessionModel.get(session_id).rating is None
    chat.rate_session(visitor, session_id, 5, None)
    assert SessionModel.get(session_id).rating == 5


# --- one open session per visitor ----------------------------------------------------------------


def test_a_visitor_has_at_most_one_open_session(conversation):
    visitor, agent, session_id = conversation

    again = chat.start_session(visitor, "something else")

    assert again.session.session_id == session_id
    assert [s.session_id for s in session_lists.list_sessions(visitor)] == [session_id]
    assert int(agents.get_agent(agent.user_id).active_count) == 1


def test_a_waiting_visitor_starting_again_keeps_their_place(tables):
    visitor = _visitor("Ann")
    first = chat.start_session(visitor)
    chat.start_session(_visitor("Ben"))

    again = chat.start_session(visitor)

    assert again.session.session_id == first.session.session_id
    assert again.position == 1
    assert [q["customer_id"] for q in assignment.queue_view()].count(visitor.user_id) == 1


def test_after_ending_a_new_start_opens_a_new_session(conversation):
    visitor, agent, session_id = conversation
    chat.end_session(visitor, session_id)

    again = chat.start_session(visitor)

    assert again.session.session_id != session_id
    assert again.session.status == "active"
    assert SessionModel.get(session_id).status == "ended"
    assert {s.session_id for s in session_lists.list_sessions(visitor)} == {session_id, again.session.session_id}


def test_only_visitors_start_sessions(tables):
    agent = _online_agent()

    with pytest.raises(Forbidden):
        chat.start_session(agent)

    assert session_lists.list_sessions(agent) == []


def _active_listing_cost(history: int) -> int:
    agent = _online_agent(f"agent{history}")
    for n in range(history):
        visitor = _visitor(f"old{history}-{n}")
        session = chat.start_session(visitor).session
        chat.end_session(visitor, session.session_id)
    current = chat.start_session(_visitor(f"now{history}")).session
    with faults.counted() as calls:
        listed = session_lists.list_sessions(agent, status="active")
    assert [s.session_id for s in listed] == [current.session_id]
    return sum(calls.values())


def test_an_agents_active_sessions_are_listed_without_reading_their_history(tables):
    assert _active_listing_cost(30) == _active_listing_cost(0)


def test_a_rating_that_meets_the_ending_transaction_in_flight_is_retried_and_stored(conversation):
    visitor, agent, session_id = conversation
    chat.end_session(agent, session_id)

    with faults.refuse("UpdateItem", "TransactionConflictException", times=2) as f:
        chat.rate_session(visitor, session_id, 5, "thanks")

    assert f.injected == {"UpdateItem": 2}
    stored = SessionModel.get(session_id, consistent_read=True)
    assert (stored.rating, stored.rating_comment) == (5, "thanks")


def test_a_rating_whose_answer_was_lost_is_recognised_as_done_not_as_already_rated(conversation):
    visitor, agent, session_id = conversation
    chat.end_session(agent, session_id)

    with faults.lose_response("UpdateItem", times=1) as f:
        rated = chat.rate_session(visitor, session_id, 3, None)

    assert f.injected == {"UpdateItem": 1}
    assert rated.session_id == session_id
    assert SessionModel.get(session_id, consistent_read=True).rating == 3


# --- sending races -------------------------------------------------------------------------------


def test_a_send_whose_retry_stored_it_first_is_acknowledged_even_if_the_session_then_ended(conversation):
    """A concurrent retry (same client_msg_id) stores the message, then the agent ends the chat,
    both just before this send writes: both of its conditions fail, and the message is stored."""
    visitor, agent, session_id = conversation

    def retry_then_end() -> None:
        chat.send_message(visitor, session_id, "c-race", "hello")
        chat.end_session(agent, session_id)

    with faults.before("TransactWriteItems", retry_then_end) as injected:
        message, is_new = chat.send_message(visitor, session_id, "c-race", "hello")

    assert injected.injected == {"TransactWriteItems": 1}
    assert (message.text, is_new) == ("hello", False)
    said = [m.message_id for m in MessageModel.query(session_id, consistent_read=True) if m.sender_type != "system"]
    assert said == [message.message_id]


def _stored_with(session_id: str, client_msg_id: str) -> list[str]:
    return [m.message_id for m in MessageModel.query(session_id, consistent_read=True)
            if m.client_msg_id == client_msg_id]


@pytest.mark.parametrize("answer", ["reset", "500"])
def test_a_send_whose_answer_was_lost_stores_one_message_and_counts_it_once(conversation, answer):
    """The transaction applied and its answer was lost: the retry (same token) meets its own
    success instead of storing a second message or failing on its own idempotency key."""
    visitor, _, session_id = conversation

    with faults.lose_response("TransactWriteItems", times=1, answer=answer) as f:
        message, _ = chat.send_message(visitor, session_id, "c-lost", "hello")
    again, is_new = chat.send_message(visitor, session_id, "c-lost", "hello")  # the client's own retry

    assert f.injected == {"TransactWriteItems": 1}
    assert (again.message_id, is_new) == (message.message_id, False)
    assert _stored_with(session_id, "c-lost") == [message.message_id]
    assert int(SessionModel.get(session_id, consistent_read=True).message_count) == 1


def test_a_send_applied_but_unanswered_until_its_retries_ran_out_is_found_by_the_clients_retry(conversation):
    """Applied, answer lost, then every retry throttled: the sender is told to try again, and its
    retry is acknowledged with the message already stored, not a second one."""
    visitor, _, session_id = conversation

    with faults.lose_response("TransactWriteItems", times=1), faults.cancel("ThrottlingError", times=7) as f, \
            pytest.raises(Unavailable):
        chat.send_message(visitor, session_id, "c-busy", "hello")
    message, is_new = chat.send_message(visitor, session_id, "c-busy", "hello")

    assert f.injected == {"TransactWriteItems": 7}
    assert not is_new
    assert _stored_with(session_id, "c-busy") == [message.message_id]
    assert int(SessionModel.get(session_id, consistent_read=True).message_count) == 1
