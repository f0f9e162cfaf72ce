"""The console's inbox beyond the live lists: closed conversations paged back through history,
and search. Every read is a Query on a key (``by_agent``, ``by_status``, the customer search keys)
or a GetItem; an agent sees their own conversations, an admin everyone's. An agent's own and the
search's finds are read again from the table (the index's copy may be seconds old)."""

from __future__ import annotations

from typing import Any

from chalicelib.errors import BadRequest, Forbidden
from chalicelib.models import SessionModel
from chalicelib.services import chat, customer_search, paging, session_lists
from chalicelib.services.paging import Page
from chalicelib.services.tokens import Principal

CLOSED = ("ended", "abandoned")
SCOPES = ("mine", "all")


def _before(cursor: str | None) -> str | None:
    state = paging.decode(cursor)
    if state is None:
        return None
    before = state.get("before")
    if not isinstance(before, str) or not before:
        raise BadRequest("invalid cursor")
    return before


def _newest(index: Any, key: str, before: str | None, limit: int) -> list[SessionModel]:
    condition = SessionModel.created_at < before if before else None
    return list(index.query(key, condition, scan_index_forward=False, limit=limit, page_size=max(limit, 25)))


def closed(principal: Principal, scope: str = "mine", limit: int = 25, cursor: str | None = None) -> Page[SessionModel]:
    """Closed conversations, newest first (by when they started): the caller's own, or with
    ``scope=all`` (admins) everyone's. ``next`` resumes before the last one listed."""
    if not principal.is_agent:
        raise Forbidden("the inbox is for agents")
    if scope not in SCOPES:
        raise BadRequest(f"scope must be one of {SCOPES}")
    if scope == "all" and not principal.is_admin:
        raise Forbidden("only admins see everyone's conversations")
    before = _before(cursor)
    if scope == "all":
        found = [s for status in CLOSED for s in _newest(SessionModel.by_status, status, before, limit + 1)]
    else:
        found = session_lists.agent_sessions(principal.user_id, limit + 1, CLOSED, before)
    found.sort(key=lambda s: (s.created_at, s.session_id), reverse=True)
    page = found[:limit]
    more = len(found) > limit
    return Page(page, paging.encode({"before": page[-1].created_at}) if more and page else None)


def search(principal: Principal, query: str) -> list[SessionModel]:
    """Conversations of customers whose name or email begins with ``query`` (or the one whose id
    it is) that the caller may read, newest first."""
    if not principal.is_agent:
        raise Forbidden("the inbox is for agents")
    return [s for s in customer_search.find_sessions(query) if chat.can_access(principal, s)]
