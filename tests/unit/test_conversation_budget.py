"""A visitor's budget of new conversations, kept on their own item: a ``start_session`` frame spends
it in the one write every frame costs; a REST conversation, or a container that does not know the
budget, spends it in a write of its own; both ways draw on one budget, which nothing passes."""

from __future__ import annotations

import pytest

from chalicelib import clock
from chalicelib.errors import RateLimited
from chalicelib.models import VisitorModel
from chalicelib.services import budgets, ratelimit, senders, visitors
from chalicelib.services.container import forget_all
from tests import faults

BUDGET = budgets.Budget("new conversations", size=2, window=1000.0)  # one back every 500 s


@pytest.fixture
def visitor_id(tables, monkeypatch):
    from chalicelib.config import reload_config

    monkeypatch.setenv("KEFU_CONVERSATIONS_PER_VISITOR", "2")
    monkeypatch.setenv("KEFU_ADDRESS_WINDOW", "1000")
    reload_config()
    assert ratelimit.conversation_budget() == BUDGET
    yield visitors.new_visitor("Vera", None).visitor_id
    clock.reset()
    monkeypatch.undo()
    reload_config()


def _frame(visitor_id: str) -> senders.Sender:
    sender = senders.count_frame("visitor", visitor_id, conversation=BUDGET)
    assert sender is not None
    return sender


def _conversations_passed(visitor_id: str, tries: int) -> int:
    passed = 0
    for _ in range(tries):
        try:
            senders.spend_conversation(visitor_id, BUDGET)
            passed += 1
        except RateLimited:
            pass
    return passed


def test_a_start_session_frame_spends_the_conversation_in_the_write_the_frame_costs(visitor_id):
    with faults.sent("UpdateItem") as writes:
        sender = _frame(visitor_id)

    assert sender.conversation_spent
    assert len(writes) == 1
    assert VisitorModel.get(visitor_id, consistent_read=True).conv_tat is not None
    assert _conversations_passed(visitor_id, 3) == 1  # a budget of 2, one spent


def test_rest_and_frames_draw_on_one_budget_and_a_refusal_says_when(visitor_id):
    senders.spend_conversation(visitor_id, BUDGET)  # a conversation opened over REST
    assert _frame(visitor_id).conversation_spent  # and one by a frame: the budget is spent

    sender = _frame(visitor_id)
    assert not sender.conversation_spent  # the frame still counts; the conversation is not given
    with pytest.raises(RateLimited) as refused:
        ratelimit.new_conversation(visitor_id, None, visitor_spent=sender.conversation_spent)
    assert 0 < refused.value.details["retry_after"] <= 500

    clock.advance(501)  # one fits again
    assert _frame(visitor_id).conversation_spent
    assert not _frame(visitor_id).conversation_spent


def test_a_container_that_never_saw_the_visitor_spends_it_apart_and_exactly(visitor_id):
    assert _frame(visitor_id).conversation_spent
    forget_all()  # another container: its exact write is refused (the version moved on)
    sender = _frame(visitor_id)

    assert not sender.conversation_spent
    assert _conversations_passed(visitor_id, 3) == 1
    forget_all()
    assert _conversations_passed(visitor_id, 1) == 0  # read from the refused write's answer


def test_a_conversation_whose_answer_was_lost_is_counted_once(visitor_id):
    with faults.lose_response("UpdateItem") as lost:
        senders.spend_conversation(visitor_id, BUDGET)

    assert lost.injected == {"UpdateItem": 1}
    assert _conversations_passed(visitor_id, 3) == 1


def test_a_cold_container_keeps_the_request_ids_other_writes_recorded(visitor_id):
    """A retry after a lost answer recognises its write by its request id among the last ones: a
    conversation spent by a container that never read the visitor must not cut that list."""
    for _ in range(3):
        senders.count_frame("visitor", visitor_id)  # frames, no conversation
    before = VisitorModel.get(visitor_id, consistent_read=True).msg_requests
    forget_all()

    senders.spend_conversation(visitor_id, BUDGET)

    after = VisitorModel.get(visitor_id, consistent_read=True).msg_requests
    assert len(before) == 3 and after[:3] == before and len(after) == 4
