"""assignment service: who gets the next customer, the queue, capacity, presence and expiry."""

from __future__ import annotations

import time

import pytest

from chalicelib.config import get_config
from chalicelib.errors import NotFound
from chalicelib.models import AgentModel, SessionModel
from chalicelib.services import agents, assignment, chat, connections, tokens, visitors
from chalicelib.services.tokens import Principal
from tests import faults
from tests.concurrency.invariants import settle
from tests.conftest import simulated_aws


def _agent(name: str, capacity: int | None = None, status: str | None = "online") -> str:
    agent = agents.create_agent(name, "password123", name.title(), "agent", capacity)
    if status is not None:
        assignment.agent_heartbeat(agent.agent_id)
        assignment.set_status(agent.agent_id, status)
    return agent.agent_id


def _visitor(name: str) -> Principal:
    """A visitor with an open socket (a visitor without one is gone: their session ends)."""
    principal = tokens.verify(visitors.sign_up(name, None)["token"])
    connections.register(f"conn-{principal.user_id}", principal, None, None)
    connections.add_visitor_socket(principal.user_id, f"conn-{principal.user_id}")
    return principal


def _start(name: str) -> SessionModel:
    return chat.start_session(_visitor(name)).session


def _session(session_id: str) -> SessionModel:
    return SessionModel.get(session_id, consistent_read=True)


def _active(agent_id: str) -> int:
    return int(AgentModel.get(agent_id, consistent_read=True).active_count)


def _queue() -> list[str]:
    return [q["session_id"] for q in assignment.queue_view()]


def _position(session_id: str) -> int | None:
    return assignment.position_of(_session(session_id))


def _wait_until_expired(customer_id: str) -> None:
    """Sleep until the customer's assignment is past its expiry (kept in whole epoch seconds)."""
    expires_at = assignment.get_assignment(customer_id).expires_at
    time.sleep(max(0.0, expires_at + 1.01 - time.time()))


# --- choosing an agent -------------------------------------------------------------------------


def test_least_loaded_agent_gets_the_next_customer_ties_to_the_least_recently_assigned(tables):
    small = _agent("small", capacity=1)
    medium = _agent("medium", capacity=2)
    large = _agent("large", capacity=4)

    first_three = {_start(f"c{n}").agent_id for n in range(3)}
    assert first_three == {small, medium, large}  # all at 0/cap: one each

    # loads now 1/1 (full), 1/2, 1/4
    assert _start("c3").agent_id == large  # 1/4 is lightest -> 2/4
    assert _start("c4").agent_id == medium  # 1/2 ties 2/4: medium was assigned longer ago
    assert _start("c5").agent_id == large  # medium full -> 3/4
    assert _start("c6").agent_id == large  # -> 4/4
    overflow = _start("c7")

    assert overflow.status == "queued"
    assert (_active(small), _active(medium), _active(large)) == (1, 2, 4)


def test_equally_loaded_agents_take_turns(tables):
    first = _agent("first", capacity=3)
    second = _agent("second", capacity=3)

    served = [_start(f"c{n}").agent_id for n in range(6)]

    assert sorted(served[:2]) == sorted([first, second])
    assert served[2:] == served[:2] * 2  # strict round robin among equals
    assert (_active(first), _active(second)) == (3, 3)


@pytest.mark.parametrize("status", ["away", "offline"])
def test_an_agent_who_is_not_online_gets_nobody(tables, status):
    idle = _agent("idle", status=status)

    waiting = _start("c0")

    assert waiting.status == "queued"
    assert _active(idle) == 0
    assert _queue() == [waiting.session_id]


def test_only_the_online_agent_is_given_customers(tables):
    away = _agent("away", status="away")
    offline = _agent("offline", status="offline")
    online = _agent("online", capacity=3)

    served = [_start(f"c{n}") for n in range(3)]

    assert {s.agent_id for s in served} == {online}
    assert (_active(away), _active(offline), _active(online)) == (0, 0, 3)


def test_an_agent_online_without_any_heartbeat_gets_nobody(tables):
    agent_id = _agent("ghost", status=None)
    assignment.set_status(agent_id, "online")

    waiting = _start("c0")

    assert waiting.status == "queued"
    assert _active(agent_id) == 0


def test_an_agent_silent_past_the_heartbeat_window_gets_nobody(tables, settings, time_passes):
    settings(KEFU_HEARTBEAT_WINDOW="30")
    silent = _agent("silent")
    time_passes(31)

    waiting = _start("c0")

    assert waiting.status == "queued"
    assert _active(silent) == 0
    assert assignment.agents_overview()[0]["is_available"] is False


def test_of_two_online_agents_the_silent_one_gets_nobody(tables, settings, time_passes):
    settings(KEFU_HEARTBEAT_WINDOW="30")
    silent = _agent("silent", capacity=5)
    time_passes(31)
    alive = _agent("alive", capacity=1)
    assignment.agent_heartbeat(alive)

    first = _start("c0")
    second = _start("c1")

    assert first.agent_id == alive
    assert second.status == "queued"
    assert (_active(silent), _active(alive)) == (0, 1)


def test_an_agent_whose_heartbeat_resumes_takes_the_waiting_customer(tables, settings, time_passes):
    settings(KEFU_HEARTBEAT_WINDOW="30")
    agent_id = _agent("flaky")
    time_passes(31)
    waiting = _start("c0")
    assert waiting.status == "queued"

    assignment.agent_heartbeat(agent_id)

    assert _session(waiting.session_id).agent_id == agent_id
    assert _active(agent_id) == 1


def test_an_agent_whose_heartbeat_resumes_is_given_customers_after_the_sweep(tables, settings, time_passes):
    settings(KEFU_HEARTBEAT_WINDOW="30")
    agent_id = _agent("flaky")
    time_passes(31)
    waiting = _start("c0")
    assignment.cleanup()
    assignment.agent_heartbeat(agent_id)

    assert _session(waiting.session_id).agent_id == agent_id
    assert _active(agent_id) == 1


# --- the queue ---------------------------------------------------------------------------------


def test_queue_is_first_come_first_served_and_positions_count_down(tables):
    agent_id = _agent("solo", capacity=1)
    served = _start("c0")
    waiting = [chat.start_session(_visitor(f"w{n}")) for n in range(3)]
    assert [w.position for w in waiting] == [1, 2, 3]
    ids = [w.session.session_id for w in waiting]
    assert _queue() == ids

    chat.end_session(tokens.Principal(agent_id, "agent", "agent"), served.session_id)

    assert _session(ids[0]).agent_id == agent_id
    assert _queue() == ids[1:]
    assert [_position(i) for i in ids[1:]] == [1, 2]

    assignment.release_customer(_session(ids[0]).visitor_id, ended_by=agent_id)

    assert _session(ids[1]).agent_id == agent_id
    assert _queue() == ids[2:]
    assert _position(ids[2]) == 1
    assert _active(agent_id) == 1


def test_a_new_customer_queues_behind_those_already_waiting_even_when_a_slot_is_free(tables):
    agent_id = _agent("solo", capacity=1, status="away")
    early = _start("early")
    assignment.agent_heartbeat(agent_id)
    assignment.set_status(agent_id, "online")
    assert _session(early.session_id).agent_id == agent_id

    late = _start("late")

    assert late.status == "queued"
    assert _queue() == [late.session_id]


def test_raising_capacity_dispatches_the_oldest_waiting_customer(tables):
    agent_id = _agent("solo", capacity=1)
    _start("c0")
    oldest, newer = _start("c1"), _start("c2")

    assignment.set_capacity(agent_id, 2)

    assert _session(oldest.session_id).agent_id == agent_id
    assert _session(newer.session_id).status == "queued"
    assert _position(newer.session_id) == 1
    assert _active(agent_id) == 2


def test_lowering_capacity_keeps_current_customers_and_takes_no_new_ones(tables):
    agent_id = _agent("solo", capacity=3)
    served = [_start(f"c{n}") for n in range(3)]

    assignment.set_capacity(agent_id, 1)
    chat.end_session(tokens.Principal(agent_id, "agent", "agent"), served[0].session_id)
    waiting = _start("c3")

    assert all(_session(s.session_id).agent_id == agent_id for s in served[1:])
    assert waiting.status == "queued"
    assert _active(agent_id) == 2


def test_an_agent_coming_online_takes_the_oldest_waiting_customers_up_to_capacity(tables):
    agent_id = _agent("late", capacity=2, status="offline")
    waiting = [_start(f"c{n}") for n in range(3)]

    assignment.agent_heartbeat(agent_id)
    assignment.set_status(agent_id, "online")

    assert [_session(w.session_id).agent_id for w in waiting[:2]] == [agent_id, agent_id]
    assert _queue() == [waiting[2].session_id]
    assert _position(waiting[2].session_id) == 1


def test_going_offline_requeues_the_agents_customers_at_the_front(tables):
    leaving = _agent("leaving", capacity=2)
    served = [_start("c0"), _start("c1")]
    behind = _start("c2")
    assert _queue() == [behind.session_id]

    assignment.set_status(leaving, "offline")

    queue = _queue()
    assert set(queue[:2]) == {s.session_id for s in served}
    assert queue[2] == behind.session_id
    assert [q["position"] for q in assignment.queue_view()] == [1, 2, 3]
    assert _active(leaving) == 0
    assert all(_session(s.session_id).status == "queued" for s in served)
    assert all(_session(s.session_id).agent_id is None for s in served)
    assert all(assignment.get_assignment(s.visitor_id) is None for s in served)


def test_requeued_customers_go_to_the_next_agent_before_newer_arrivals(tables):
    leaving = _agent("leaving", capacity=1)
    served = _start("c0")
    behind = _start("c1")
    assignment.set_status(leaving, "offline")

    taker = _agent("taker", capacity=1)

    assert _session(served.session_id).agent_id == taker
    assert _session(behind.session_id).status == "queued"
    assert _queue() == [behind.session_id]


def test_going_offline_hands_customers_straight_to_another_agent_with_room(tables):
    leaving = _agent("leaving", capacity=1)
    served = _start("c0")
    other = _agent("other", capacity=1, status="away")
    assignment.set_status(other, "online")
    assert _active(other) == 0

    assignment.set_status(leaving, "offline")

    assert _session(served.session_id).agent_id == other
    assert (_active(leaving), _active(other)) == (0, 1)
    assert _queue() == []


# --- release and expiry ------------------------------------------------------------------------


def test_release_frees_the_slot_exactly_once(tables):
    agent_id = _agent("solo", capacity=2)
    first, second = _start("c0"), _start("c1")

    assignment.release_customer(first.visitor_id, ended_by=agent_id)
    with pytest.raises(NotFound):
        assignment.release_customer(first.visitor_id, ended_by=agent_id)

    assert _active(agent_id) == 1
    assert _session(first.session_id).end_reason == "released"
    assert _session(second.session_id).status == "active"


# The index can lag longer than an assigner looks again (DynamoDB's lag has no bound): the agent
# who made room is read directly, so the head of the queue does not wait for the minute sweep.
LAGGING_INDEX = {"gsi_lag_ms": 5000, "lag_spike": 0, "stale_read": 0, "tx_conflict": 0, "write_conflict": 0,
                 "throttle": 0, "lost_response": 0}


def test_a_freed_slot_goes_to_the_head_of_the_queue_at_once_while_the_index_still_shows_the_agent_full(tables):
    agent_id = _agent("solo", capacity=1)
    served, waiting = _start("c0"), _start("c1")
    assert _session(waiting.session_id).status == "queued"

    with simulated_aws(**LAGGING_INDEX):
        settle()
        assignment.release_customer(served.visitor_id, ended_by=agent_id)
        moved = _session(waiting.session_id)

    assert (moved.status, moved.agent_id) == ("active", agent_id)
    assert _active(agent_id) == 1


def test_an_agent_coming_online_takes_the_head_of_the_queue_at_once_while_the_index_lags(tables):
    agent_id = _agent("late", capacity=1, status="away")
    waiting = _start("c0")
    assert _session(waiting.session_id).status == "queued"

    with simulated_aws(**LAGGING_INDEX):
        settle()
        assignment.set_status(agent_id, "online")
        moved = _session(waiting.session_id)

    assert (moved.status, moved.agent_id) == ("active", agent_id)


def test_an_arriving_customer_meets_an_agent_who_came_online_while_the_index_lags_past_its_window(tables):
    with simulated_aws(**LAGGING_INDEX):  # 5 s: longer than KEFU_INDEX_LAG, as in a lag spike
        settle()
        agent_id = _agent("fresh", capacity=2)
        started = time.monotonic()
        session = _start("c0")
        waited = time.monotonic() - started

    assert (_session(session.session_id).status, session.agent_id) == ("active", agent_id)
    assert waited < get_config().index_lag_seconds  # confirmed on the roster, not waited for


def test_an_agents_conversations_are_listed_at_once_while_the_assignment_index_lags_past_its_window(tables):
    """A console reloaded a moment after an assignment lists it though the ``by_agent`` index
    still lags (5 s here: a lag spike), without waiting for the index (the agent item names its
    customers, read consistently)."""
    agent_id = _agent("listed", capacity=3)
    earlier = _start("c0")
    with simulated_aws(**LAGGING_INDEX):
        settle()
        current = _start("c1")
        assignment.release_customer(earlier.visitor_id, ended_by=agent_id)
        started = time.monotonic()
        listed = assignment.active_sessions_of(agent_id)
        waited = time.monotonic() - started

    assert [s.session_id for s in listed] == [current.session_id]
    assert waited < get_config().index_lag_seconds / 2  # read at once, not looked for again


def test_an_index_still_offering_a_full_agent_does_not_hide_a_free_one(tables):
    full_id = _agent("full", capacity=1)
    with simulated_aws(**LAGGING_INDEX):
        settle()
        served = _start("c0")  # the index still shows them free for seconds
        free_id = _agent("free", capacity=1)  # the index does not show them yet
        arriving = _start("c1")

    assert served.agent_id == full_id
    assert (_session(arriving.session_id).status, arriving.agent_id) == ("active", free_id)
    assert (_active(full_id), _active(free_id)) == (1, 1)


def test_back_to_back_customers_go_to_the_least_loaded_while_the_index_still_shows_the_first_agent_empty(tables):
    first_id, second_id = _agent("first", capacity=4), _agent("second", capacity=4)
    with simulated_aws(**LAGGING_INDEX):
        settle()
        sessions = [_start(f"c{n}") for n in range(4)]

    holders = [s.agent_id for s in sessions]
    assert sorted(holders.count(agent_id) for agent_id in (first_id, second_id)) == [2, 2], holders
    assert holders[0] != holders[1]  # the second customer did not go to the agent just given one
    assert (_active(first_id), _active(second_id)) == (2, 2)


def test_a_freed_slot_goes_to_the_first_waiter_while_the_index_shows_only_a_later_one(tables, monkeypatch):
    agent_id = _agent("solo", capacity=1)
    served, first, second = _start("c0"), _start("c1"), _start("c2")
    assert [_session(s.session_id).status for s in (first, second)] == ["queued", "queued"]
    real_query = SessionModel.queue.query
    hidden_reads = []

    def lagging(*args, **kwargs):
        """Each item reaches the index at its own moment: the earlier waiter's entry shows only
        from the third read on, the later one's at once."""
        listed = list(real_query(*args, **kwargs))
        if len(hidden_reads) < 2:
            hidden_reads.append(1)
            return iter([s for s in listed if s.session_id != first.session_id])
        return iter(listed)

    monkeypatch.setattr(SessionModel.queue, "query", lagging)
    assignment.release_customer(served.visitor_id, ended_by=agent_id)

    assert len(hidden_reads) == 2
    assert (_session(first.session_id).status, _session(first.session_id).agent_id) == ("active", agent_id)
    assert _session(second.session_id).status == "queued"


def test_an_agent_an_additive_commit_found_full_is_not_offered_again_by_the_stale_index(tables):
    free_id = _agent("free", capacity=4)
    _start("c0")  # free holds one of four: the index ranks them after an empty agent
    stale_id = _agent("stale", capacity=2)
    counts = iter([1, 0, 2])  # what other assigners leave stale's count at before each attempt

    def others_assign() -> None:
        AgentModel(stale_id).update(actions=[AgentModel.active_count.set(next(counts))])

    with simulated_aws(**{**LAGGING_INDEX, "gsi_lag_ms": 600_000}):  # the index shows stale empty
        settle()
        with faults.before("TransactWriteItems", others_assign, times=3) as f:
            arriving = _start("c1")

    assert f.injected == {"TransactWriteItems": 3}  # exact, exact again, then additive: full
    assert (_session(arriving.session_id).status, arriving.agent_id) == ("active", free_id)
    assert (_active(stale_id), _active(free_id)) == (2, 2)


def test_a_transfer_gives_the_slot_it_frees_to_the_head_of_the_queue(tables):
    source_id, target_id = _agent("source", capacity=1), _agent("target", capacity=1, status="away")
    moving = _start("c0")
    waiting = _start("c1")
    assert _session(waiting.session_id).status == "queued"
    # the target is online with room although a customer waits (a dispatch it missed)
    AgentModel(target_id).update(actions=[AgentModel.status.set("online")])

    assignment.transfer(moving.session_id, target_id, by_user=source_id)

    assert _session(moving.session_id).agent_id == target_id
    assert (_session(waiting.session_id).status, _session(waiting.session_id).agent_id) == ("active", source_id)


def test_an_agent_put_back_in_the_pool_by_a_new_socket_serves_the_queue_on_its_first_frame(tables):
    agent_id = _agent("solo", capacity=1, status="away")
    waiting = _start("c0")
    # online but out of the pool (as a closed socket's $disconnect can leave them), nobody dispatched
    AgentModel(agent_id).update(actions=[AgentModel.status.set("online")])
    assert _session(waiting.session_id).status == "queued"

    assert assignment.agent_connected(agent_id, "conn-new")  # back in the pool; cannot be posted to yet
    assert _session(waiting.session_id).status == "queued"
    assignment.agent_frame(agent_id, "conn-new")

    moved = _session(waiting.session_id)
    assert (moved.status, moved.agent_id) == ("active", agent_id)


def test_an_idle_assignment_expires_and_is_released_exactly_once(tables, settings):
    settings(KEFU_ASSIGNMENT_TTL="1")
    agent_id = _agent("solo", capacity=3)
    idle = _start("idle")
    _wait_until_expired(idle.visitor_id)
    settings(KEFU_ASSIGNMENT_TTL="1800")
    busy = _start("busy")
    assert _active(agent_id) == 2

    report = assignment.cleanup()
    again = assignment.cleanup()

    assert report.expired_released == [{"customer_id": idle.visitor_id, "agent_id": agent_id,
                                        "session_id": idle.session_id}]
    assert again.expired_released == []
    assert _active(agent_id) == 1
    ended = _session(idle.session_id)
    assert (ended.status, ended.end_reason, ended.ended_by) == ("ended", "timeout", "system")
    assert assignment.get_assignment(idle.visitor_id) is None
    assert _session(busy.session_id).status == "active"


def test_an_expired_customer_can_start_again(tables, settings):
    settings(KEFU_ASSIGNMENT_TTL="1")
    agent_id = _agent("solo", capacity=1)
    visitor = _visitor("Ann")
    first = chat.start_session(visitor).session
    _wait_until_expired(visitor.user_id)
    assignment.cleanup()
    assert _active(agent_id) == 0

    again = chat.start_session(visitor).session

    assert again.session_id != first.session_id
    assert again.agent_id == agent_id
    assert _active(agent_id) == 1


def test_expiry_hands_the_freed_slot_to_the_oldest_waiting_customer(tables, settings):
    settings(KEFU_ASSIGNMENT_TTL="1")
    agent_id = _agent("solo", capacity=1)
    idle = _start("idle")
    settings(KEFU_ASSIGNMENT_TTL="1800")
    waiting = _start("waiting")
    _wait_until_expired(idle.visitor_id)

    report = assignment.cleanup()

    assert len(report.expired_released) == 1
    assert _session(waiting.session_id).agent_id == agent_id
    assert _active(agent_id) == 1


# --- counts stay true ------------------------------------------------------------------------------


def test_cleanup_reconciles_a_count_that_leaked(tables, time_passes):
    agent_id = _agent("solo", capacity=5)
    _start("c0")
    AgentModel.get(agent_id).update(actions=[AgentModel.active_count.set(4)])
    time_passes(get_config().index_settle_seconds)  # a count is lowered only once the index settled
    assignment.agent_heartbeat(agent_id)

    report = assignment.cleanup()

    assert report.counts_fixed == [{"agent_id": agent_id, "was": 4, "now": 1}]
    assert _active(agent_id) == 1


def test_a_customer_offered_to_an_agent_who_turns_out_full_keeps_waiting(tables, time_passes):
    agent_id = _agent("solo", capacity=2)
    _start("c0")
    AgentModel.get(agent_id).update(actions=[AgentModel.active_count.set(2)])  # counted, not pooled out

    waiting = _start("c1")

    stored = _session(waiting.session_id)
    assert (stored.status, stored.end_reason) == ("queued", None)
    time_passes(get_config().index_settle_seconds)  # a count is lowered only once the index settled
    assignment.agent_heartbeat(agent_id)
    assert assignment.cleanup().dispatched == 1
    assert _session(waiting.session_id).agent_id == agent_id


def test_an_assignment_reads_no_ones_sockets_and_writes_its_record_in_its_own_transaction(tables):
    from chalicelib.ws import actions
    from tests import faults

    agent_id = _agent("alice")
    agent = Principal(agent_id, "agent", "agent", "Alice")
    connections.register("alice-laptop", agent, None, None)
    actions.on_registered(agent, "alice-laptop")
    session = _start("Ann")
    waiting = _start("Bob")  # a customer of hers who comes back to wait below
    assert (session.status, waiting.status) == ("active", "active")
    assignment.end_session(_session(waiting.session_id), ended_by="system", reason="ended_by_agent")
    queued = SessionModel("s_waiting", visitor_id=waiting.visitor_id, visitor_name="Bob", status="queued",
                          created_at=waiting.created_at, created_day=waiting.created_day,
                          queued_at=waiting.created_at, visitor_sockets={f"conn-{waiting.visitor_id}"})
    queued.save()
    read_by_the_dispatcher = _session("s_waiting")

    with faults.counted() as calls, faults.sent("TransactWriteItems") as transactions:
        outcome = assignment.assign_session(read_by_the_dispatcher)

    assert outcome is not None and outcome.agent_id == agent_id
    # The available index, then the transaction; an UpdateItem at most: this second's statistics.
    assert {op: n for op, n in calls.items() if op != "UpdateItem"} == {"Query": 1, "TransactWriteItems": 1}
    written = {next(iter(a.values()))["TableName"] for a in transactions[0]["TransactItems"]}
    assert get_config().table_name("activity") in written and get_config().table_name("visitors") in written
