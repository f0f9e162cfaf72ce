"""The sweep's writes hold only on what it read: a frame landing while the sweep decides wins over
its write."""

from __future__ import annotations

import json

from chalicelib.config import get_config
from chalicelib.models import AgentModel
from chalicelib.services import agents, assignment, chat, connections, tokens, visitors
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


def _agent_item(agent_id: str) -> AgentModel:
    return AgentModel.get(agent_id, consistent_read=True)


# --- a frame landing between the sweep's read and its write --------------------------------------


def _is_offline_write(body: dict) -> bool:
    return body.get("TableName") == get_config().table_name("agents") and '"offline"' in json.dumps(
        body.get("ExpressionAttributeValues", {}))


def test_a_frame_landing_between_the_sweeps_read_and_its_offline_write_keeps_the_agent_online(
        tables, time_passes):
    agent_id = _agent("alice")
    customer = _visitor("Ann")
    session = chat.start_session(customer).session
    time_passes(get_config().heartbeat_window_seconds + get_config().presence_grace_seconds + 5)
    connections.record_frame(f"conn-{customer.user_id}")

    with faults.before("UpdateItem", lambda: assignment.agent_heartbeat(agent_id), times=1,
                       when=_is_offline_write) as landed:
        report = assignment.cleanup()

    assert landed.injected == {"UpdateItem": 1}
    assert report.agents_offline == []
    stored = _agent_item(agent_id)
    assert (stored.status, stored.offline_reason) == ("online", None)
    assert assignment.get_assignment(customer.user_id).session_id == session.session_id
    assert stored.pool is not None  # the frame brought them back to the pool
