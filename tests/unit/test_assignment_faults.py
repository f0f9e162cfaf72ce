"""The assignment system under DynamoDB's unkind behaviours moto does not produce on its own:
transaction conflicts and throttling on plain writes, lost responses, and failures part-way
through a multi-step operation (injected at the AWS boundary, see ``tests/faults.py``)."""

from __future__ import annotations

from chalicelib.config import get_config
from chalicelib.models import AgentModel, AssignmentModel, CounterModel, SessionModel
from chalicelib.models.counter import QUEUE_COUNTER
from chalicelib.services import agents, assignment, chat, connections, tokens, visitors
from chalicelib.services.assignment.roster import ROSTER
from chalicelib.services.tokens import Principal
from tests import faults


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


def _session(session_id: str) -> SessionModel:
    return SessionModel.get(session_id, consistent_read=True)


def _agent_item(agent_id: str) -> AgentModel:
    return AgentModel.get(agent_id, consistent_read=True)


def _on_table(key: str):
    name = get_config().table_name(key)
    return lambda body: body.get("TableName") == name


# --- retried writes ------------------------------------------------------------------------------


def test_a_heartbeat_that_meets_a_transaction_conflict_still_lands(tables):
    agent_id = _agent("alice")
    before = float(_agent_item(agent_id).heartbeat_at)

    with faults.refuse("UpdateItem", "TransactionConflictException", times=2, when=_on_table("agents")) as f:
        assignment.agent_heartbeat(agent_id)

    assert f.injected == {"UpdateItem": 2}
    assert float(_agent_item(agent_id).heartbeat_at) >= before


def test_a_message_whose_assignment_refresh_meets_a_conflict_is_stored_and_acknowledged(tables, time_passes):
    _agent("alice")
    visitor = _visitor("Ann")
    session = chat.start_session(visitor).session
    expiry = AssignmentModel.get(visitor.user_id, consistent_read=True).expires_at
    time_passes(60)

    def touches_the_assignment(body: dict) -> bool:  # the refresh is part of the message's transaction
        return any(a.get("Update", {}).get("TableName") == get_config().table_name("assignments")
                   for a in body.get("TransactItems") or [])

    with faults.cancel("TransactionConflict", times=1, when=touches_the_assignment) as f:
        message, is_new = chat.send_message(visitor, session.session_id, "m1", "hello")

    assert f.injected == {"TransactWriteItems": 1}
    assert is_new and message.text == "hello"
    refreshed = AssignmentModel.get(visitor.user_id, consistent_read=True)
    assert refreshed.session_id == session.session_id and refreshed.expires_at >= expiry + 60


def test_a_waiting_customer_is_queued_though_the_queue_counter_was_throttled(tables):
    visitor = _visitor("Ann")

    with faults.refuse("UpdateItem", "ProvisionedThroughputExceededException", times=6,
                       when=_on_table("counters")) as f:
        state = chat.start_session(visitor)

    assert f.injected == {"UpdateItem": 6}  # more than botocore's own retries
    assert (state.session.status, state.position) == ("queued", 1)
    assert int(CounterModel.get(QUEUE_COUNTER, consistent_read=True).length) == 1


def test_an_assignment_transaction_cancelled_by_a_conflict_is_retried(tables):
    agent_id = _agent("alice")

    with faults.refuse("TransactWriteItems", "TransactionConflictException", times=2) as f:
        state = chat.start_session(_visitor("Ann"))

    assert f.injected == {"TransactWriteItems": 2}
    assert state.session.status == "active" and state.session.agent_id == agent_id
    assert int(_agent_item(agent_id).active_count) == 1


def test_a_repair_enqueue_whose_answer_was_lost_recognises_its_own_write(tables):
    visitor = _visitor("Ann")
    state = chat.start_session(visitor)  # nobody online: waiting
    stuck = _session(state.session.session_id)
    stuck.update(actions=[SessionModel.queue_ticket.remove(), SessionModel.queue_pool.remove()])
    stuck = _session(stuck.session_id)

    with faults.lose_response("TransactWriteItems", times=1) as f:
        position = assignment.enqueue(stuck)

    assert f.injected == {"TransactWriteItems": 1}
    assert position >= 1
    assert _session(stuck.session_id).queue_ticket is not None


# --- effects after a commit ----------------------------------------------------------------------


def test_a_release_is_answered_though_the_dispatch_after_it_fails(tables):
    agent_id = _agent("alice", capacity=1)
    served = _visitor("Ann")
    chat.start_session(served)
    chat.start_session(_visitor("Ben"))  # waiting behind

    with faults.refuse("Query", "ValidationException", times=50, when=_on_table("sessions")):
        released = assignment.release_customer(served.user_id, ended_by=agent_id)

    assert released.agent_id == agent_id
    assert assignment.get_assignment(served.user_id) is None
    assert assignment.cleanup().dispatched == 1  # the sweep serves who the failed dispatch left


# --- one failure does not stop the others ---------------------------------------------------------


def test_one_customer_that_cannot_be_handed_back_does_not_strand_the_others(tables):
    leaving = _agent("leaving", capacity=3)
    customers = [_visitor(f"c{n}") for n in range(3)]
    for visitor in customers:
        chat.start_session(visitor)

    hand_back = lambda body: ROSTER not in str(body)  # noqa: E731  (not the status write itself)
    with faults.refuse("TransactWriteItems", "ValidationException", times=1, when=hand_back) as f:
        assignment.set_status(leaving, "offline")

    assert f.injected == {"TransactWriteItems": 1}
    still_assigned = [v for v in customers if assignment.get_assignment(v.user_id) is not None]
    assert len(still_assigned) == 1

    assignment.cleanup()  # an offline agent who still holds customers is handed back again

    assert all(assignment.get_assignment(v.user_id) is None for v in customers)
    assert int(_agent_item(leaving).active_count) == 0
    assert len(assignment.queue_view()) == 3


def test_one_failing_expiry_does_not_abort_the_sweep(tables, time_passes):
    agent_id = _agent("alice")
    customers = [_visitor(f"c{n}") for n in range(2)]
    for visitor in customers:
        chat.start_session(visitor)
    time_passes(get_config().assignment_ttl_seconds + 5)
    assignment.agent_heartbeat(agent_id)  # everyone still connected, only the chats idle
    for visitor in customers:
        connections.record_frame(f"conn-{visitor.user_id}")

    with faults.refuse("TransactWriteItems", "ValidationException", times=1) as f:
        report = assignment.cleanup()

    assert f.injected == {"TransactWriteItems": 1}
    assert len(report.expired_released) == 1
    assert [e["step"] for e in report.errors] == ["expiry"]
    assert len(assignment.cleanup().expired_released) == 1  # the next run finishes the job


# --- lost answers ----------------------------------------------------------------------------------


def test_an_assignment_whose_answer_was_lost_is_recognised_as_done(tables):
    agent_id = _agent("alice")

    with faults.lose_response("TransactWriteItems", times=1) as f:
        state = chat.start_session(_visitor("Ann"))

    assert f.injected == {"TransactWriteItems": 1}
    assert (state.session.status, state.session.agent_id) == ("active", agent_id)
    assert int(_agent_item(agent_id).active_count) == 1
    assert assignment.queue_view() == []


def test_a_release_whose_answer_was_lost_is_answered_as_released_once(tables):
    agent_id = _agent("alice")
    visitor = _visitor("Ann")
    session = chat.start_session(visitor).session

    with faults.lose_response("TransactWriteItems", times=1) as f:
        released = assignment.release_customer(visitor.user_id, ended_by=agent_id)

    assert f.injected == {"TransactWriteItems": 1}
    assert released.session_id == session.session_id
    assert _session(session.session_id).status == "ended"
    assert int(_agent_item(agent_id).active_count) == 0


def test_an_agent_going_offline_hands_back_customers_the_agents_index_does_not_show_yet(tables):
    # A global secondary index has no bound on its lag (a spike can pass every window the code
    # assumes): the agent's customers are found on the agent item, read consistently.
    agent_id = _agent("alice", capacity=2)
    customers = [_visitor(name) for name in ("Ann", "Bob")]
    sessions = [chat.start_session(v).session for v in customers]
    assert {s.agent_id for s in sessions} == {agent_id}

    with faults.index_behind("by_agent", times=50) as behind:
        assignment.set_status(agent_id, "offline")

    assert behind.injected.get("Query", 0) >= 1
    assert int(_agent_item(agent_id).active_count) == 0
    assert [a for a in AssignmentModel.scan(consistent_read=True) if a.agent_id == agent_id] == []
    assert [_session(s.session_id).status for s in sessions] == ["queued", "queued"]
