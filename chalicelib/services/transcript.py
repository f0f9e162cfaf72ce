"""System lines: what happened to a conversation, stored in its transcript as messages of sender
type ``system`` (assigned, transferred with the transferring agent's note, requeued, ended, rated;
shapes in docs/protocol.md), so every client shows them in order, from history as from pushes.

A line is written after the change it tells of has committed (``notify`` calls it just before the
frames about that change go out). Like the activity log it is a side note: a failed write is
logged and counted, never turned into an error for the operation that committed. The exception is
the line of an assignment, which the assignment's own transaction writes (``assigned_line``, like
its activity record): its id is made from the session and the assignment's time, so the notice
that follows tells that very line without carrying it or writing again.
"""

from __future__ import annotations

import hashlib
from typing import Any

from chalicelib import clock, push
from chalicelib.config import get_config
from chalicelib.models import AgentModel, MessageModel, SessionModel
from chalicelib.models.base import get_or_none, retrying
from chalicelib.observability import count, logger

SYSTEM = "system"

ENDINGS = {
    "timeout": "The conversation ended after a period without activity",
    "visitor_left": "The conversation ended: the customer left",
    "abandoned": "The customer left before an agent answered",
    "duplicate": "Closed: the customer has another conversation open",
}


def _person(person_id: str | None, name: str | None) -> dict[str, Any] | None:
    return {"id": person_id, "name": name} if person_id else None


def _write(session: SessionModel, text: str, system: dict[str, Any]) -> MessageModel | None:
    retention = get_config().message_retention_days * 86400
    line = MessageModel(session.session_id, clock.sortable_id(), sender_type=SYSTEM, sender_id=SYSTEM,
                        text=text, system=system, created_at=clock.iso(),
                        expires_at=int(clock.epoch() + retention))
    try:
        retrying(line.save)  # a put of a fresh id: sending it again cannot store it twice
    except Exception:  # the change it tells of has committed: a missing line must not undo that
        logger.exception("system line not stored", session_id=session.session_id, event=system["event"])
        count("SystemLineFailed")
        return None
    return line


def _tell(session: SessionModel, line: MessageModel, agent_ids: list[str | None]) -> None:
    """The visitor gets the line as a visitor sees it; the agents get all of it."""
    agents = [a for a in dict.fromkeys(agent_ids) if a]
    for_agents = {"type": "message.new", "message": line.to_public()}
    for_visitor = {"type": "message.new", "message": line.to_public(for_visitor=True)}
    try:
        if for_agents == for_visitor:
            push.send_to_users([session.visitor_id, *agents], for_agents)
        else:
            push.send_to_users([session.visitor_id], for_visitor)
            push.send_to_users(agents, for_agents)
    except Exception:  # stored: clients that missed the push read it from history
        logger.exception("system line not pushed", session_id=session.session_id)


def _line(session: SessionModel, text: str, system: dict[str, Any], agent_ids: list[str | None]) -> None:
    line = _write(session, text, system)
    if line is not None:
        _tell(session, line, agent_ids)


def assigned_line(session_id: str, agent_id: str, agent_name: str | None, at: str) -> MessageModel:
    """"The agent joined", for the assignment at ``at`` (``session.assigned_at``) to write in its
    own transaction; the same line whoever builds it, so ``notify.session_assigned`` can carry it
    in the ``session.assigned`` frame afterwards."""
    millis = round(clock.epoch_of(at) * 1000)
    suffix = hashlib.sha256(f"{session_id}#assigned#{at}".encode()).hexdigest()[:8]
    retention = get_config().message_retention_days * 86400
    return MessageModel(session_id, f"{millis * 10**6:019d}{suffix}", sender_type=SYSTEM, sender_id=SYSTEM,
                        text=f"{agent_name or 'An agent'} joined the conversation",
                        system={"event": "assigned", "agent": _person(agent_id, agent_name)}, created_at=at,
                        expires_at=int(millis / 1000 + retention))


def transferred(session: SessionModel, from_agent: tuple[str, str | None], to_agent: tuple[str, str | None],
                note: str | None = None) -> None:
    system: dict[str, Any] = {"event": "transferred", "from_agent": _person(*from_agent),
                              "agent": _person(*to_agent)}
    if note:
        system["note"] = note
    text = f"{from_agent[1] or 'An agent'} transferred the conversation to {to_agent[1] or 'another agent'}"
    _line(session, text, system, [to_agent[0]])  # the former agent has let it go


def requeued(session: SessionModel, agent_id: str, agent_name: str | None, reason: str) -> None:
    _line(session, f"{agent_name or 'The agent'} left; waiting for another agent",
          {"event": "requeued", "agent": _person(agent_id, agent_name), "reason": reason}, [agent_id])


def _ender(session: SessionModel, ended_by: str | None, agent_id: str | None) -> dict[str, Any]:
    """Who ended it, as a transcript shows them: the customer, an agent (or admin) by name, or
    the system."""
    if ended_by and ended_by == session.visitor_id:
        return {"type": "visitor", "id": ended_by, "name": session.visitor_name}
    if not ended_by or ended_by == SYSTEM:
        return {"type": SYSTEM, "id": SYSTEM, "name": None}
    name = session.agent_name if ended_by == (agent_id or session.agent_id) else None
    if name is None:
        agent = get_or_none(AgentModel, ended_by)
        name = agent.display_name if agent is not None else None
    return {"type": "agent", "id": ended_by, "name": name}


def ended(session: SessionModel, ended_by: str | None, reason: str, agent_id: str | None) -> None:
    by = _ender(session, ended_by, agent_id)
    if by["type"] == "visitor":
        text = f"{by['name'] or 'The customer'} ended the conversation"
    elif by["type"] == "agent":
        text = f"{by['name'] or 'The agent'} ended the conversation"
    else:
        text = ENDINGS.get(reason, "The conversation ended")
    _line(session, text, {"event": "ended", "by": by, "reason": reason}, [agent_id or session.agent_id])


def rated(session: SessionModel) -> None:
    rating = int(session.rating) if session.rating is not None else None
    system: dict[str, Any] = {"event": "rated", "rating": rating}
    if session.rating_comment:
        system["comment"] = session.rating_comment
    _line(session, f"The customer rated the conversation {rating}/5", system, [session.agent_id])
