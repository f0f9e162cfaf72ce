"""An agent who closes the console is away at once, and back as they chose when they return."""

from __future__ import annotations

from chalicelib.models import AgentModel, SessionModel
from chalicelib.services import agents, assignment, chat, connections, tokens, visitors
from chalicelib.services.tokens import Principal
from chalicelib.ws import actions


def _agent(name: str) -> Principal:
    agent = agents.create_agent(name, "password123", name.title(), "agent", 3)
    return Principal(user_id=agent.agent_id, typ="agent", role="agent", name=agent.display_name)


def _connect(principal: Principal, connection_id: str) -> None:
    """What $connect does, then the client's first frame (a ping)."""
    actions.on_connected(principal, connection_id)
    connections.register(connection_id, principal, None, None)
    actions.on_registered(principal, connection_id)
    actions.on_frame(principal, connection_id)


def _disconnect(connection_id: str) -> None:
    record = connections.unregister(connection_id)
    actions.on_disconnected(connections.principal_of(record), connection_id)


def _visitor(name: str) -> Principal:
    principal = tokens.verify(visitors.sign_up(name, None)["token"])
    _connect(principal, f"conn-{principal.user_id}")
    return principal


def _stored(agent: Principal) -> AgentModel:
    return AgentModel.get(agent.user_id, consistent_read=True)


def test_closing_the_last_console_socket_sets_the_agent_away_at_once_and_coming_back_restores_online(tables):
    alice = _agent("alice")
    _connect(alice, "tab")
    assignment.set_status(alice.user_id, "online")

    _disconnect("tab")

    stored = _stored(alice)
    assert (stored.status, stored.offline_reason, stored.pool) == ("away", "disconnected", None)
    waiting = chat.start_session(_visitor("Ann")).session
    assert waiting.status == "queued"

    _connect(alice, "tab-again")

    stored = _stored(alice)
    assert (stored.status, stored.offline_reason, stored.resume_status) == ("online", None, None)
    served = SessionModel.get(waiting.session_id, consistent_read=True)
    assert (served.status, served.agent_id) == ("active", alice.user_id)


def test_a_status_chosen_while_away_for_a_closed_console_stands_when_they_come_back(tables):
    alice = _agent("alice")
    _connect(alice, "tab")
    assignment.set_status(alice.user_id, "online")
    _disconnect("tab")
    assert _stored(alice).status == "away"
    assignment.set_status(alice.user_id, "offline")  # e.g. an admin, from another device

    _connect(alice, "tab-again")

    assert (_stored(alice).status, _stored(alice).offline_reason) == ("offline", None)
