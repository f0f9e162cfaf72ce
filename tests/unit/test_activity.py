"""The activity log: each committed event recorded once, in its session's partition; a log that
cannot be written never fails the operation that committed."""

from __future__ import annotations

import logging

from chalicelib import clock
from chalicelib.models import ActivityModel
from chalicelib.models.activity import agents_bucket, session_bucket, session_shard
from chalicelib.services import agents, assignment, chat, tokens, visitors
from chalicelib.services.tokens import Principal
from tests import faults


def _online_agent(name: str) -> Principal:
    agent = agents.create_agent(name, "password123", name.title())
    assignment.agent_heartbeat(agent.agent_id)
    assignment.set_status(agent.agent_id, "online")
    return Principal(agent.agent_id, "agent", "agent", agent.display_name)


def _events(session) -> list[tuple[str, str | None, str | None]]:
    bucket = session_bucket(session.created_day, session_shard(session.session_id))
    return [(e.kind, e.agent_id, e.other_agent_id) for e in ActivityModel.query(bucket)
            if e.session_id == session.session_id]


def test_a_transferred_session_logs_who_held_it_in_order(tables):
    alice, bob = _online_agent("alice"), _online_agent("bob")
    visitor = tokens.verify(visitors.sign_up("Ann", None)["token"])
    session = chat.start_session(visitor).session
    first = session.agent_id
    second = bob.user_id if first == alice.user_id else alice.user_id

    assignment.transfer(session.session_id, second, first)
    chat.end_session(visitor, session.session_id)

    assert _events(session) == [("assigned", first, None), ("transferred", second, first),
                                ("ended", second, None)]


def test_agent_status_changes_are_logged(tables):
    alice = _online_agent("alice")
    assignment.set_status(alice.user_id, "away")

    logged = [(e.agent_id, e.status) for e in ActivityModel.query(agents_bucket(clock.iso()[:10]))]
    assert logged == [(alice.user_id, "online"), (alice.user_id, "away")]


def test_a_log_that_cannot_be_written_never_fails_the_committed_operation(tables, caplog):
    alice = _online_agent("alice")
    visitor = tokens.verify(visitors.sign_up("Ann", None)["token"])
    session = chat.start_session(visitor).session  # the assignment writes its record itself
    tables.delete_table(TableName=ActivityModel.Meta.table_name)

    with caplog.at_level(logging.ERROR):
        ended = chat.end_session(visitor, session.session_id)

    assert session.agent_id == alice.user_id and ended.status == "ended"
    assert "activity not recorded" in caplog.text


def test_an_assignment_and_its_activity_record_are_written_together(tables):
    _online_agent("alice")
    visitor = tokens.verify(visitors.sign_up("Ann", None)["token"])

    with faults.cancel("ProvisionedThroughputExceeded", times=1):  # throttled: the whole transaction retried
        session = chat.start_session(visitor).session

    events = [e for e in ActivityModel.scan(consistent_read=True) if e.session_id == session.session_id]
    assert [(e.kind, e.agent_id, e.at) for e in events] == [("assigned", session.agent_id, session.assigned_at)]
