"""Assignment behaviours that must hold whatever the timing: silent agents, departed visitors,
reloads, half-written state the sweep repairs, and a sweep bounded by its deadline."""

from __future__ import annotations

from chalicelib.config import get_config
from chalicelib.models import AgentModel, AssignmentModel, SessionModel
from chalicelib.models.tables import table_spec
from chalicelib.services import agents, assignment, chat, connections, performance, tokens, visitors, wsstats
from chalicelib.services.tokens import Principal
from chalicelib.ws import actions
from tests import faults
from tests.conftest import reset_tables


def _agent(name: str, capacity: int = 3) -> str:
    agent = agents.create_agent(name, "password123", name.title(), "agent", capacity)
    assignment.agent_heartbeat(agent.agent_id)
    assignment.set_status(agent.agent_id, "online")
    return agent.agent_id


def _agent_principal(agent_id: str) -> Principal:
    agent = AgentModel.get(agent_id)
    return Principal(user_id=agent_id, typ="agent", role="agent", name=agent.display_name)


def _connect(principal: Principal, connection_id: str) -> None:
    """What $connect does: presence first, then the record, then the owner's set of sockets."""
    actions.on_connected(principal, connection_id)
    connections.register(connection_id, principal, None, None)
    actions.on_registered(principal, connection_id)


def _disconnect(connection_id: str) -> None:
    """What $disconnect does."""
    record = connections.unregister(connection_id)
    actions.on_disconnected(connections.principal_of(record), connection_id)


def _visitor(name: str) -> Principal:
    principal = tokens.verify(visitors.sign_up(name, None)["token"])
    _connect(principal, f"conn-{principal.user_id}")
    return principal


def _session(session_id: str) -> SessionModel:
    return SessionModel.get(session_id, consistent_read=True)


def _agent_item(agent_id: str) -> AgentModel:
    return AgentModel.get(agent_id, consistent_read=True)


# --- choosing among silent agents ----------------------------------------------------------------


def test_silent_agents_filling_a_candidate_page_do_not_block_assignment(tables, time_passes):
    silent = [_agent(f"silent{n}") for n in range(get_config().candidate_page_size + 1)]
    time_passes(get_config().heartbeat_window_seconds + 1)  # all silent, still in the pool index
    live = _agent("live", capacity=10)
    assert chat.start_session(_visitor("first")).session.agent_id == live  # live is now the most loaded

    state = chat.start_session(_visitor("second"))

    assert state.session.agent_id == live
    assert all(_agent_item(a).pool is not None for a in silent)  # no sweep ran in between


# --- sockets, reloads, departed visitors ---------------------------------------------------------


def test_an_old_sockets_disconnect_after_a_reload_keeps_the_agent_in_the_pool(tables):
    agent_id = _agent("alice")
    principal = _agent_principal(agent_id)
    _connect(principal, "old")
    _connect(principal, "new")  # the reload: the new socket opens before the old one closes

    _disconnect("old")

    assert _agent_item(agent_id).pool is not None
    assert chat.start_session(_visitor("Ann")).session.agent_id == agent_id


def test_the_last_socket_closing_takes_the_agent_out_of_the_pool_at_once(tables):
    agent_id = _agent("alice")
    principal = _agent_principal(agent_id)
    _connect(principal, "only")

    _disconnect("only")

    stored = _agent_item(agent_id)
    assert stored.pool is None and stored.disconnected_at is not None
    assert chat.start_session(_visitor("Ann")).session.status == "queued"


def test_an_active_customer_gone_past_the_away_timeout_ends_as_visitor_left(tables, time_passes):
    agent_id = _agent("alice")
    visitor = _visitor("Ann")
    session = chat.start_session(visitor).session
    _disconnect(f"conn-{visitor.user_id}")
    time_passes(get_config().visitor_away_seconds + 1)
    assignment.agent_heartbeat(agent_id)

    assignment.cleanup()

    ended = _session(session.session_id)
    assert (ended.status, ended.end_reason) == ("ended", "visitor_left")
    assert int(_agent_item(agent_id).active_count) == 0


def test_a_customer_who_comes_back_in_time_keeps_their_agent(tables, time_passes):
    agent_id = _agent("alice")
    visitor = _visitor("Ann")
    session = chat.start_session(visitor).session
    _disconnect(f"conn-{visitor.user_id}")
    _connect(visitor, "again")
    time_passes(get_config().visitor_away_seconds + 1)
    assignment.agent_heartbeat(agent_id)
    connections.record_frame("again")

    assignment.cleanup()

    assert _session(session.session_id).status == "active"


def test_a_customer_handed_back_without_a_live_socket_is_ended_not_requeued(tables):
    leaving = _agent("leaving")
    present, gone = _visitor("present"), _visitor("gone")
    kept = chat.start_session(present).session
    dropped = chat.start_session(gone).session
    _disconnect(f"conn-{gone.user_id}")

    assignment.set_status(leaving, "offline")

    assert _session(kept.session_id).status == "queued"
    ended = _session(dropped.session_id)
    assert (ended.status, ended.end_reason) == ("ended", "visitor_left")
    assert [row["session_id"] for row in assignment.queue_view()] == [kept.session_id]


# --- the open-session claim ----------------------------------------------------------------------


def test_dropping_a_stale_claim_never_drops_the_fresh_one_that_replaced_it(tables):
    visitor = _visitor("Ann")
    first = chat.start_session(visitor).session
    chat.end_session(visitor, first.session_id)
    second = chat.start_session(visitor).session

    assignment.claims.release_claim(visitor.user_id, first.session_id)  # a late cleanup of the old one

    assert chat.open_session_of(visitor.user_id).session_id == second.session_id
    assert chat.start_session(visitor).session.session_id == second.session_id


# --- repairs -------------------------------------------------------------------------------------


def test_the_sweep_puts_back_a_session_left_queued_outside_the_queue(tables):
    visitor = _visitor("Ann")
    waiting = chat.start_session(visitor).session
    _session(waiting.session_id).update(actions=[SessionModel.queue_ticket.remove(),
                                                 SessionModel.queue_pool.remove()])
    assert assignment.queue_view() == []

    report = assignment.cleanup()

    assert report.sessions_repaired == [waiting.session_id]
    assert [row["session_id"] for row in assignment.queue_view()] == [waiting.session_id]


def test_the_sweep_frees_a_slot_held_by_an_assignment_pointing_at_a_queued_session(tables, time_passes):
    agent_id = _agent("alice", capacity=1)
    visitor = _visitor("Ann")
    session = chat.start_session(visitor).session
    _session(session.session_id).update(actions=[SessionModel.status.set("queued"),
                                                 SessionModel.queue_ticket.set(-5),
                                                 SessionModel.queue_pool.set("waiting")])
    time_passes(get_config().index_settle_seconds)
    assignment.agent_heartbeat(agent_id)
    connections.record_frame(f"conn-{visitor.user_id}")

    report = assignment.cleanup()

    # The stale assignment is released, and the waiting customer served again by the freed slot.
    assert report.counts_fixed == [{"agent_id": agent_id, "released_stale": visitor.user_id}]
    assert report.dispatched == 1
    served = _session(session.session_id)
    assert (served.status, served.agent_id) == ("active", agent_id)
    assert assignment.get_assignment(visitor.user_id).session_id == session.session_id
    assert int(_agent_item(agent_id).active_count) == 1


def test_the_sweep_never_lowers_a_count_to_what_a_lagging_index_shows(tables, time_passes, monkeypatch):
    # A lag spike can pass KEFU_INDEX_SETTLE: the by_agent index still lacks the third customer
    # though nobody was assigned since. A count lowered to what it shows lets a fourth one in.
    agent_id = _agent("alice", capacity=3)
    customers = [_visitor(name) for name in ("Ann", "Bob", "Cid")]
    assert {chat.start_session(v).session.agent_id for v in customers} == {agent_id}
    index_before = [a for a in AssignmentModel.scan(consistent_read=True) if a.customer_id != customers[-1].user_id]
    monkeypatch.setattr(AssignmentModel.by_agent, "query", lambda *args, **kwargs: iter(index_before))
    time_passes(get_config().index_settle_seconds)
    assignment.agent_heartbeat(agent_id)
    for visitor in customers:
        connections.record_frame(f"conn-{visitor.user_id}")

    report = assignment.cleanup()

    assert report.counts_fixed == []
    assert int(_agent_item(agent_id).active_count) == 3
    assert chat.start_session(_visitor("Dan")).session.status == "queued"
    assert len([a for a in AssignmentModel.scan(consistent_read=True) if a.agent_id == agent_id]) == 3


def test_assignments_have_no_ttl_the_expiry_sweep_releases_them(tables):
    assert "TimeToLiveSpecification" not in table_spec(AssignmentModel)


# --- a bounded sweep -----------------------------------------------------------------------------


def test_a_sweep_out_of_time_stops_and_the_next_run_finishes(tables, time_passes):
    agent_id = _agent("alice")
    AgentModel(agent_id).update(actions=[AgentModel.active_count.set(2)])
    time_passes(get_config().index_settle_seconds)
    assignment.agent_heartbeat(agent_id)

    stopped = assignment.cleanup(assignment.Deadline(budget_seconds=0))

    assert stopped.complete is False and stopped.counts_fixed == []
    finished = assignment.cleanup()
    assert finished.complete is True
    assert finished.counts_fixed == [{"agent_id": agent_id, "was": 2, "now": 0}]


# --- bounded work ----------------------------------------------------------------------------------


def _announce_cost(waiting: int) -> int:
    for n in range(waiting):
        chat.start_session(_visitor(f"w{waiting}-{n}"))
    wsstats.flush()
    performance.flush()
    with faults.counted() as calls:
        assignment.announce_positions()
    return sum(calls.values())


def test_announcing_queue_positions_costs_the_same_dynamodb_calls_for_3_or_30_waiters(tables, monkeypatch):
    # The statistics merge (one write a second at most) is held back, so it cannot fall in one
    # measurement and not the other.
    monkeypatch.setattr(wsstats, "FLUSH_INTERVAL_SECONDS", float("inf"))
    monkeypatch.setattr(performance, "FLUSH_INTERVAL_SECONDS", float("inf"))
    few = _announce_cost(3)
    reset_tables()
    many = _announce_cost(30)

    assert many == few


def test_assign_session_gives_a_ticketless_waiting_session_to_an_agent_with_room(tables):
    agent_id = _agent("alice")
    now = "2026-01-01T00:00:00.000Z"
    session = SessionModel("s_direct", visitor_id="v_direct", status="queued", created_at=now,
                           created_day=now[:10], queued_at=now)
    session.save()

    outcome = assignment.assign_session(session)

    assert outcome is not None and outcome.agent_id == agent_id
    assert _session("s_direct").status == "active"
    assert assignment.queue_length() == 0
