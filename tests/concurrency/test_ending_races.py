"""Ending a conversation while something else moves it, with real threads against moto: the
races measured in issue 8 (409 and 500 answers, a customer moved instead of ended)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from chalicelib.errors import KefuError
from chalicelib.models import AgentModel, AssignmentModel, SessionModel
from chalicelib.services import agents, assignment, chat, connections, tokens, visitors
from chalicelib.services.tokens import Principal
from tests.concurrency.invariants import settle


def _agent(name: str, capacity: int) -> Principal:
    agent = agents.create_agent(name, "password123", name.title(), max_concurrent=capacity)
    assignment.agent_heartbeat(agent.agent_id)
    assignment.set_status(agent.agent_id, "online")
    return Principal(user_id=agent.agent_id, typ="agent", role="agent", name=agent.display_name)


def _visitor(name: str) -> Principal:
    principal = tokens.verify(visitors.sign_up(name, None)["token"])
    connections.register(f"conn-{principal.user_id}", principal, None, None)
    connections.add_visitor_socket(principal.user_id, f"conn-{principal.user_id}")
    return principal


def _together(*calls):
    """Run the calls at the same instant; each result is its return value or the error raised."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        try:
            return call()
        except Exception as e:  # the assertion below says which errors are allowed
            return e

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_both_parties_ending_at_once_end_it_once_and_never_fail(tables):
    agent = _agent("alice", capacity=1)
    for trial in range(15):
        visitor = _visitor(f"v{trial}")
        session = chat.start_session(visitor).session
        assert session.agent_id == agent.user_id

        results = _together(lambda v=visitor, s=session: chat.end_session(v, s.session_id),
                            lambda s=session: chat.end_session(agent, s.session_id))

        errors = [r for r in results if isinstance(r, Exception)]
        assert all(isinstance(e, KefuError) and e.status == 409 for e in errors), errors
        assert len(errors) <= 1
        assert SessionModel.get(session.session_id, consistent_read=True).status == "ended"
        assert int(AgentModel.get(agent.user_id, consistent_read=True).active_count) == 0


def test_a_customer_ending_while_their_agent_goes_offline_is_ended_not_moved(tables):
    for trial in range(6):
        leaving = _agent(f"leaving{trial}", capacity=4)
        customers = [_visitor(f"t{trial}c{n}") for n in range(4)]
        sessions = [chat.start_session(v).session for v in customers]
        assert {s.agent_id for s in sessions} == {leaving.user_id}
        ender, ending = customers[0], sessions[0]

        results = _together(lambda e=ender, s=ending: chat.end_session(e, s.session_id),
                            lambda a=leaving: assignment.set_status(a.user_id, "offline"))

        assert not any(isinstance(r, Exception) for r in results), results
        ended = SessionModel.get(ending.session_id, consistent_read=True)
        assert (ended.status, ended.ended_by) == ("ended", ender.user_id)
        assert int(AgentModel.get(leaving.user_id, consistent_read=True).active_count) == 0
        settle()  # the count below is read from an index, seconds behind at worst
        assert AssignmentModel.by_agent.count(leaving.user_id) == 0
        for session in sessions[1:]:
            assert SessionModel.get(session.session_id, consistent_read=True).status == "queued"
        for session in sessions[1:]:  # clear the queue for the next trial
            chat.end_session(customers[sessions.index(session)], session.session_id)
