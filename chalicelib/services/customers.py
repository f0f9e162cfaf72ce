"""The customer panel: who the customer is, where they write from, and their conversations.

Browser and OS come from the user agent, parsed with ``ua-parser`` (the maintained uap-core
rules), imported only here: its rules compile on first use, which only this view pays.
"""

from __future__ import annotations

import functools
from typing import Any

from chalicelib.errors import Forbidden
from chalicelib.models import ConnectionModel, SessionModel, VisitorModel
from chalicelib.models.base import fetch
from chalicelib.models.batch import get_all
from chalicelib.services import assignment
from chalicelib.services.tokens import Principal

HISTORY = 20
# The widget's names for the page context (as stored) -> the names the panel shows them under.
CONTEXT_FIELDS = {"url": "page_url", "title": "page_title", "referrer": "referrer", "language": "language",
                  "timezone": "time_zone", "user_agent": "user_agent"}


@functools.lru_cache(maxsize=256)
def parse_user_agent(user_agent: str | None) -> dict[str, Any]:
    """Browser, OS and device of a user-agent string (``Other`` for what the rules do not know)."""
    if not user_agent:
        return {"browser": None, "os": None, "device": None}
    import ua_parser

    parsed = ua_parser.parse(user_agent)

    def named(part: Any) -> dict[str, Any] | None:
        if part is None:
            return None
        version = ".".join(v for v in (part.major, part.minor) if v)
        return {"name": part.family, "version": version or None}

    device = parsed.device.family if parsed.device and parsed.device.family != "Other" else None
    return {"browser": named(parsed.user_agent), "os": named(parsed.os), "device": device}


def _plain(value: Any) -> dict[str, Any]:
    """A stored map as a plain dict (PynamoDB hands back ``MapAttribute`` objects)."""
    if value is None:
        return {}
    return dict(value.as_dict() if hasattr(value, "as_dict") else value)


def _context(visitor: VisitorModel, sessions: list[SessionModel]) -> dict[str, Any]:
    """Where the customer writes from: the page context the widget sent with their newest
    conversation that has one (``SessionModel.context``, written by #19); the user agent falls back
    to the one their open socket connected with."""
    stored = next((_plain(s.context) for s in sessions if getattr(s, "context", None)), {})
    context = {shown: stored[name] for name, shown in CONTEXT_FIELDS.items() if stored.get(name)}
    if not context.get("user_agent") and visitor.socket_ids:
        sockets = sorted(get_all(ConnectionModel, sorted(visitor.socket_ids)), key=lambda c: c.connected_at)
        agents = [c.user_agent for c in sockets if c.user_agent]
        if agents:
            context["user_agent"] = agents[-1]
    return context


def _may_see(principal: Principal, visitor_id: str, sessions: list[SessionModel]) -> bool:
    if principal.is_admin:
        return True
    if not principal.is_agent:
        return False
    if any(s.agent_id == principal.user_id for s in sessions):
        return True
    current = assignment.get_assignment(visitor_id)
    return current is not None and current.agent_id == principal.user_id


def profile(principal: Principal, visitor_id: str, current: str | None = None) -> dict[str, Any]:
    """The customer as the panel shows them; for admins and the agents who serve or served them.
    ``current``: the conversation on screen, which the index may not list yet if it began a moment
    ago; every conversation shown is read consistently, as the index's copy may be seconds old."""
    visitor = fetch(VisitorModel, visitor_id, "customer")
    listed = [s.session_id for s in SessionModel.by_visitor.query(
        visitor_id, scan_index_forward=False, limit=HISTORY, attributes_to_get=["session_id"])]
    # The index says which conversations there are; their state is read from the table, so one
    # ended a moment ago is not offered as active (and openable for writing) from a stale copy.
    sessions = sorted((s for s in get_all(SessionModel, [*([current] if current else []), *listed])
                       if s.visitor_id == visitor_id), key=lambda s: s.created_at, reverse=True)
    if not _may_see(principal, visitor_id, sessions):
        raise Forbidden("you do not serve this customer")
    context = _context(visitor, sessions)
    return {
        "visitor_id": visitor_id,
        "name": visitor.name,
        "email": visitor.email,
        "verified": bool(visitor.verified),
        "user_id": getattr(visitor, "user_id", None),  # #19's identify
        "attributes": _plain(visitor.attributes),
        "created_at": visitor.created_at,
        "context": context,
        **parse_user_agent(context.get("user_agent")),
        "sessions": [s.to_public() for s in sessions],
    }
