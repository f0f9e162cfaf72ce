"""Server frames about sessions, pushed to every connection of the people concerned."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib import push
from chalicelib.models import SessionModel
from chalicelib.services import activity


def agent_ref(agent_id: str | None, name: str | None) -> dict[str, Any] | None:
    return {"id": agent_id, "name": name} if agent_id else None


def session_queued(session: SessionModel, position: int) -> None:
    push.send_to_users([session.visitor_id], {
        "type": "session.queued", "session_id": session.session_id, "position": position,
    })


def session_assigned(session: SessionModel, agent_id: str, agent_name: str | None) -> None:
    activity.session_assigned(session, agent_id)
    frame = {
        "type": "session.assigned",
        "session_id": session.session_id,
        "agent": agent_ref(agent_id, agent_name),
        "customer": {"id": session.visitor_id, "name": session.visitor_name},
        "topic": session.topic,
    }
    push.send_to_users([session.visitor_id, agent_id], frame)


def session_transferred(session: SessionModel, from_agent: tuple[str, str | None],
                        to_agent: tuple[str, str | None]) -> None:
    activity.session_transferred(session, from_agent[0], to_agent[0])
    frame = {
        "type": "session.transferred",
        "session_id": session.session_id,
        "from_agent": agent_ref(*from_agent),
        "agent": agent_ref(*to_agent),
        "customer": {"id": session.visitor_id, "name": session.visitor_name},
    }
    push.send_to_users([session.visitor_id, from_agent[0], to_agent[0]], frame)


ANNOUNCE_WORKERS = 8


def session_released(session: SessionModel, former_agent_id: str) -> None:
    """The former agent's customer went back to the queue (the customer hears it from the
    position announcement that follows: one ``session.queued``)."""
    activity.session_released(session, former_agent_id)
    push.send_to_users([former_agent_id], {
        "type": "session.released", "session_id": session.session_id, "reason": "agent_offline",
    })


def _tell_position(session: SessionModel, position: int) -> Counter[str]:
    if not session.visitor_sockets:
        session_queued(session, position)  # no sockets recorded on the session: look them up
        return Counter()
    frame = {"type": "session.queued", "session_id": session.session_id, "position": position}
    return Counter(push.deliver(connection_id, frame) for connection_id in session.visitor_sockets)


def queue_positions(waiting: list[SessionModel]) -> None:
    """Each waiting customer hears their position (1 = next), posted straight to the sockets the
    session records (no connection lookup per waiter); the posts go out in parallel."""
    if not waiting:
        return
    with ThreadPoolExecutor(max_workers=min(ANNOUNCE_WORKERS, len(waiting))) as pool:
        tallies = list(pool.map(lambda item: _tell_position(item[1], item[0]), enumerate(waiting, start=1)))
    push.record(sum(tallies, Counter()))  # one statistics write for the whole announcement


def agent_presence(agent_id: str, status: str, reason: str) -> None:
    """The agent's sockets hear why their availability changed (``reason``: ``inactive``: silent
    past the heartbeat window; ``active``: a frame brought them back)."""
    push.send_to_users([agent_id], {"type": "agent.presence", "status": status, "reason": reason})


def session_ended(session: SessionModel, ended_by: str, reason: str,
                  agent_id: str | None = None) -> None:
    activity.session_ended(session, reason, agent_id or session.agent_id)
    frame = {"type": "session.ended", "session_id": session.session_id, "ended_by": ended_by,
             "reason": reason}
    push.send_to_users([session.visitor_id, agent_id or session.agent_id], frame)


def to_participants(session: SessionModel, frame: dict[str, Any],
                    exclude_connection: str | None = None) -> int:
    return push.send_to_users([session.visitor_id, session.agent_id], frame,
                              exclude_connection=exclude_connection)


def to_users(user_ids: list[str | None], frame: dict[str, Any],
             exclude_connection: str | None = None) -> int:
    return push.send_to_users([u for u in user_ids if u], frame, exclude_connection=exclude_connection)
