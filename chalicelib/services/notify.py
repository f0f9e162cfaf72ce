"""Server frames about sessions, pushed to every connection of the people concerned.

Every session frame carries the session's ``version`` of the state it describes (the version the
write that made that state produced, or the version of the consistent read it was built from);
position notices also carry ``position_seq``. Posts from different Lambdas reach a socket in any
order: clients keep the newest by (``version``, ``position_seq``) (docs/protocol.md).
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib import push
from chalicelib.models import MessageModel, SessionModel
from chalicelib.services import activity, transcript
from chalicelib.services.assignment import positions


def agent_ref(agent_id: str | None, name: str | None) -> dict[str, Any] | None:
    return {"id": agent_id, "name": name} if agent_id else None


def queued_frame(session: SessionModel, position: int | None, position_seq: int) -> dict[str, Any]:
    """``position_seq`` orders notices of one version: 0 for the position told at the start (every
    announcement read the queue after it), an announcement's number otherwise (``positions``).
    Beyond the first waiters, ``band`` is what to show: it is told again only when it changes."""
    frame = {"type": "session.queued", "session_id": session.session_id, "position": position,
             "version": session.state_version, "position_seq": position_seq}
    band = positions.band_of(position) if position else None
    if band is not None:
        frame["band"] = list(band)
    return frame


def assigned_frame(session: SessionModel, agent_id: str | None, agent_name: str | None,
                   line: MessageModel | None = None) -> dict[str, Any]:
    """``line``: the transcript's "joined" line the assignment wrote, carried in the same frame
    (one post per socket instead of two; it reads the same for the customer and the agent)."""
    frame = {
        "type": "session.assigned",
        "session_id": session.session_id,
        "agent": agent_ref(agent_id, agent_name),
        "customer": {"id": session.visitor_id, "name": session.visitor_name},
        "topic": session.topic,
        "version": session.state_version,
    }
    if line is not None:
        frame["line"] = line.to_public()
    return frame


def ended_frame(session: SessionModel, ended_by: str | None, reason: str | None) -> dict[str, Any]:
    return {"type": "session.ended", "session_id": session.session_id, "ended_by": ended_by,
            "reason": reason, "version": session.state_version}


def offline_frame(session: SessionModel) -> dict[str, Any]:
    """Waiting for an agent while nobody can answer; ``offline_text`` is the settings' own."""
    from chalicelib.services import widget_settings

    return {"type": "session.offline", "session_id": session.session_id, "version": session.state_version,
            "offline_text": widget_settings.current().document.get("offline_text")}


def rated_frame(session: SessionModel) -> dict[str, Any]:
    rating = int(session.rating) if session.rating is not None else None
    return {"type": "session.rated", "session_id": session.session_id, "rating": rating,
            "comment": session.rating_comment, "version": session.state_version}


def session_queued(session: SessionModel, position: int, position_seq: int = 0) -> None:
    push.send_to_users([session.visitor_id], queued_frame(session, position, position_seq))


def session_offline(session: SessionModel) -> None:
    push.send_to_users([session.visitor_id], offline_frame(session))


def session_assigned(session: SessionModel, agent_id: str, agent_name: str | None,
                     known: dict[str, Any] | None = None) -> None:
    """Both parties hear it (the activity record was written by the assignment itself);
    ``known``: their items as the assignment's transaction held them (``matching.owners``)."""
    line = transcript.assigned_line(session.session_id, agent_id, agent_name, session.assigned_at)
    push.send_to_users([session.visitor_id, agent_id], assigned_frame(session, agent_id, agent_name, line),
                       known=known)


def session_transferred(session: SessionModel, from_agent: tuple[str, str | None],
                        to_agent: tuple[str, str | None], note: str | None = None) -> None:
    activity.session_transferred(session, from_agent[0], to_agent[0])
    transcript.transferred(session, from_agent, to_agent, note)
    frame = {
        "type": "session.transferred",
        "session_id": session.session_id,
        "from_agent": agent_ref(*from_agent),
        "agent": agent_ref(*to_agent),
        "customer": {"id": session.visitor_id, "name": session.visitor_name},
        "version": session.state_version,
    }
    push.send_to_users([session.visitor_id, from_agent[0], to_agent[0]], frame)


ANNOUNCE_WORKERS = 8


def session_released(session: SessionModel, former_agent_id: str, former_agent_name: str | None = None) -> None:
    """The former agent's customer went back to the queue (the customer hears it from the
    position announcement that follows: one ``session.queued``)."""
    activity.session_released(session, former_agent_id)
    transcript.requeued(session, former_agent_id, former_agent_name, "agent_offline")
    push.send_to_users([former_agent_id], {
        "type": "session.released", "session_id": session.session_id, "reason": "agent_offline",
        "version": session.state_version,
    })


def _tell_position(session: SessionModel, position: int, position_seq: int) -> Counter[str]:
    if not session.visitor_sockets:
        session_queued(session, position, position_seq)  # no sockets recorded on the session: look them up
        return Counter()
    frame = queued_frame(session, position, position_seq)
    return Counter(push.deliver(connection_id, frame) for connection_id in session.visitor_sockets)


def queue_positions(told: list[tuple[SessionModel, int]], position_seq: int) -> None:
    """Each (waiting session, its position) is told, posted straight to the sockets the session
    records (no connection lookup per waiter); the posts go out in parallel. The positions were
    read after ``position_seq`` was drawn."""
    if not told:
        return
    with ThreadPoolExecutor(max_workers=min(ANNOUNCE_WORKERS, len(told))) as pool:
        tallies = list(pool.map(lambda item: _tell_position(item[0], item[1], position_seq), told))
    push.record(sum(tallies, Counter()))  # one tally for the whole announcement


def agent_presence(agent_id: str, status: str, reason: str) -> None:
    """The agent's sockets hear why their availability changed (``reason``: ``inactive``: silent
    past the heartbeat window; ``active``: a frame brought them back)."""
    push.send_to_users([agent_id], {"type": "agent.presence", "status": status, "reason": reason})


def session_ended(session: SessionModel, ended_by: str, reason: str,
                  agent_id: str | None = None) -> None:
    activity.session_ended(session, reason, agent_id or session.agent_id)
    transcript.ended(session, ended_by, reason, agent_id or session.agent_id)
    push.send_to_users([session.visitor_id, agent_id or session.agent_id], ended_frame(session, ended_by, reason))


def to_participants(session: SessionModel, frame: dict[str, Any],
                    exclude_connection: str | None = None, known: dict[str, Any] | None = None) -> int:
    return push.send_to_users([session.visitor_id, session.agent_id], frame,
                              exclude_connection=exclude_connection, known=known)


def to_users(user_ids: list[str | None], frame: dict[str, Any],
             exclude_connection: str | None = None, known: dict[str, Any] | None = None) -> int:
    return push.send_to_users([u for u in user_ids if u], frame, exclude_connection=exclude_connection,
                              known=known)
