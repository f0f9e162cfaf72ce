"""The queue length never drifts: every ticket taken is used by its session's write or given back,
on every failure path, under lost answers, and (for a holder that died in between) by the sweep
however busy the queue is; positions told to newcomers are the true ones."""

from __future__ import annotations

import json

import pytest

from chalicelib.config import get_config
from chalicelib.models import SessionModel
from chalicelib.services import agents, assignment, chat, connections, tokens, visitors
from chalicelib.services.assignment.roster import ROSTER
from chalicelib.services.tokens import Principal
from tests import faults
from tests.conftest import simulated_aws

# A holder dies between taking its ticket and using it: longer than any request may hold one.
HOLDER_DIED = 120


def _agent(name: str, capacity: int = 3) -> str:
    agent = agents.create_agent(name, "password123", name.title(), "agent", capacity)
    assignment.agent_heartbeat(agent.agent_id)
    assignment.set_status(agent.agent_id, "online")
    return agent.agent_id


def _visitor(name: str) -> Principal:
    principal = tokens.verify(visitors.sign_up(name, None)["token"])
    connections.register(f"conn-{principal.user_id}", principal, None, None)
    connections.add_visitor_socket(principal.user_id, f"conn-{principal.user_id}")
    return principal


def _still_here(*visitors_: Principal) -> None:
    """The waiting customers' sockets speak, so the sweep does not take them for gone."""
    for visitor in visitors_:
        connections.record_frame(f"conn-{visitor.user_id}")


def _queued_sessions() -> int:
    return sum(1 for s in SessionModel.scan(consistent_read=True) if s.status == "queued")


def _on_table(key: str):
    name = get_config().table_name(key)
    return lambda body: body.get("TableName") == name


def _gives_back(body: dict) -> bool:
    """A write that takes a ticket back off the queue counter (ADD -1 with the ticket's key removed)."""
    return body.get("TableName") == get_config().table_name("counters") and "REMOVE" in body.get(
        "UpdateExpression", "")


def _dies_between_ticket_and_session(visitor: Principal) -> None:
    """A start whose holder dies after taking its ticket: its session write never lands, and
    neither does its own attempt to give the ticket back."""
    with faults.refuse("TransactWriteItems", "ValidationException", times=1), \
            faults.refuse("UpdateItem", "ValidationException", times=10, when=_gives_back):
        with pytest.raises(Exception):  # noqa: B017 - whatever the dying request raised
            chat.start_session(visitor)


# --- failure paths ---------------------------------------------------------------------------------


def test_a_failed_session_write_gives_its_ticket_back(tables):
    first = chat.start_session(_visitor("first"))

    with faults.refuse("TransactWriteItems", "ValidationException", times=1) as f:
        with pytest.raises(Exception):  # noqa: B017 - the write's own error reaches the caller
            chat.start_session(_visitor("failed"))

    assert f.injected == {"TransactWriteItems": 1}
    assert assignment.queue_length() == 1 == _queued_sessions()
    assert chat.start_session(_visitor("next")).position == 2
    assert [row["session_id"] for row in assignment.queue_view()][0] == first.session.session_id


def test_a_hand_back_whose_transaction_fails_gives_its_front_ticket_back(tables):
    leaving = _agent("leaving")
    chat.start_session(_visitor("Ann"))

    hand_back = lambda body: ROSTER not in str(body)  # noqa: E731  (not the status write itself)
    with faults.refuse("TransactWriteItems", "ValidationException", times=1, when=hand_back) as f:
        assignment.set_status(leaving, "offline")

    assert f.injected == {"TransactWriteItems": 1}
    assert assignment.queue_length() == 0 == _queued_sessions()
    assert chat.start_session(_visitor("Ben")).position == 1


# --- lost answers ------------------------------------------------------------------------------------


def test_lost_answers_on_ticket_allocation_do_not_drift_the_queue_length(tables):
    with faults.lose_response("UpdateItem", times=3, when=_on_table("counters")) as f:
        positions = [chat.start_session(_visitor(f"c{n}")).position for n in range(3)]

    assert f.injected == {"UpdateItem": 3}
    assert positions == [1, 2, 3]
    assert assignment.queue_length() == 3 == _queued_sessions()
    assert [row["position"] for row in assignment.queue_view()] == [1, 2, 3]


def test_lost_answers_on_every_queue_write_leave_the_length_equal_to_the_queue(tables):
    agent_id = _agent("alice", capacity=1)
    served = _visitor("served")
    chat.start_session(served)

    with faults.lose_response("UpdateItem", times=5, when=_on_table("counters")), \
            faults.lose_response("TransactWriteItems", times=5) as lost:
        waiting = [_visitor(f"w{n}") for n in range(3)]
        for visitor in waiting:
            chat.start_session(visitor)
        assignment.release_customer(served.user_id, ended_by=agent_id)  # the head is served
        assignment.set_status(agent_id, "offline")  # and handed back to the front

    assert lost.injected == {"TransactWriteItems": 5}
    assert assignment.queue_length() == 3 == _queued_sessions()
    assert [row["position"] for row in assignment.queue_view()] == [1, 2, 3]


def test_under_lost_answers_and_throttling_below_botocore_the_length_stays_equal_to_the_queue(tables):
    waiting = [_visitor(f"c{n}") for n in range(10)]

    # The backend loses answers and throttles as AWS does, under botocore's own retries.
    with simulated_aws("off", lost_response=0.4, throttle=0.1):
        told = [chat.start_session(visitor).position for visitor in waiting]

    assert told == list(range(1, 11))
    assert assignment.queue_length() == 10 == _queued_sessions()


# --- a holder that died: the sweep repairs it, however busy the queue --------------------------------


def test_a_ticket_whose_holder_died_is_given_back_while_tickets_keep_being_issued(tables, time_passes):
    ann = _visitor("Ann")
    chat.start_session(ann)
    _dies_between_ticket_and_session(_visitor("lost"))
    time_passes(HOLDER_DIED)
    ben = _visitor("Ben")
    chat.start_session(ben)  # a ticket issued just before the sweep: the queue is busy
    _still_here(ann, ben)

    report = assignment.cleanup()

    assert assignment.queue_length() == 2 == _queued_sessions()
    assert len(report.tickets_given_back) == 1


def test_positions_told_to_newcomers_are_the_true_ones_after_a_repair(tables, time_passes):
    ann = _visitor("Ann")
    chat.start_session(ann)
    _dies_between_ticket_and_session(_visitor("lost"))
    time_passes(HOLDER_DIED)
    ben = _visitor("Ben")
    chat.start_session(ben)
    _still_here(ann, ben)
    assignment.cleanup()

    told = [chat.start_session(_visitor(f"new{n}")).position for n in range(2)]

    assert told == [3, 4]
    assert [row["position"] for row in assignment.queue_view()] == [1, 2, 3, 4]


def test_a_ticket_still_in_use_is_not_given_back(tables, time_passes):
    ann = _visitor("Ann")
    chat.start_session(ann)
    time_passes(HOLDER_DIED)
    _still_here(ann)

    report = assignment.cleanup()

    assert assignment.queue_length() == 1 == _queued_sessions()
    assert report.tickets_given_back == []


def test_a_ticket_held_by_a_newcomer_does_not_make_announcements_read_the_queue_again(tables):
    for n in range(3):
        chat.start_session(_visitor(f"w{n}"))
    assignment.announce_positions()  # tells the three; the next ones tell only what changed
    with faults.counted() as settled:
        assignment.announce_positions()
    _dies_between_ticket_and_session(_visitor("in flight"))  # a ticket held, its session not written

    with faults.counted() as held:
        assignment.announce_positions()

    assert held == settled


def test_giving_a_ticket_back_twice_takes_one_off_the_length_once(tables):
    chat.start_session(_visitor("Ann"))

    # The give-back's answer is lost: its retry meets its own write.
    with faults.refuse("TransactWriteItems", "ValidationException", times=1), \
            faults.lose_response("UpdateItem", times=1, when=_gives_back) as lost:
        with pytest.raises(Exception):  # noqa: B017
            chat.start_session(_visitor("failed"))

    assert lost.injected == {"UpdateItem": 1}
    assert assignment.queue_length() == 1 == _queued_sessions()


def test_the_sweep_reports_what_it_gave_back_in_its_answer(tables, time_passes):
    _dies_between_ticket_and_session(_visitor("lost"))
    time_passes(HOLDER_DIED)

    answer = assignment.cleanup().to_dict()

    assert len(answer["tickets_given_back"]) == 1
    assert json.dumps(answer)  # the REST answer serialises it


def test_an_announcer_stopped_at_its_deadline_lets_go_though_moves_came_meanwhile(tables):
    from chalicelib.services.assignment import positions

    stopped = positions.request()
    assert stopped is not None and positions.request() is None  # a move while it runs: counted

    assert positions.release(stopped, finished=False)
    assert positions.pending()  # the sweep announces what is left
    assert positions.request() is not None  # the next move announces at once, not after the lease
