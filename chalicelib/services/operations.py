"""Operating the live system: who is online, which sockets are open, closing them.

Listings by role are a Query on the ``by_type`` index, paged with an opaque cursor, so a socket
opened or closed a moment ago may show up or drop out a moment late (the index lags). One user's
connections are exact: their ids come from the user's own socket set and the ``by_user`` index,
and each record is read consistently. "live" is ``ConnectionModel.is_live`` with the heartbeat
window the assignment system uses.
Closing a socket tells the client why first (a ``disconnected`` frame), closes it through the
``@connections`` API, removes the record, and updates presence as ``$disconnect`` would (which may
never arrive, and never does for a socket that was already gone).
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

import msgspec
from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import DoesNotExist

from chalicelib import clock, push
from chalicelib.config import get_config
from chalicelib.errors import BadRequest, NotFound, Unauthorized, ValidationFailed
from chalicelib.models import AgentModel, ConnectionModel, VisitorModel
from chalicelib.models.batch import get_all, get_in_order
from chalicelib.observability import logger
from chalicelib.services import assignment, chat, connections, paging, revocation, senders
from chalicelib.services.paging import Page
from chalicelib.services.tokens import Principal

USER_TYPES = ("agent", "visitor")
ROLES = ("agent", "visitor", "admin")  # agent: every agent-side socket (admins too); admin: admins only
BY_TYPE_KEY = ("connection_id", "user_type", "connected_at")


def _live_window() -> float:
    return get_config().heartbeat_window_seconds


def connection_view(connection: ConnectionModel, at: float | None = None) -> dict[str, Any]:
    at = clock.epoch() if at is None else at
    return {
        "connection_id": connection.connection_id,
        "user_id": connection.user_id,
        "user_type": connection.user_type,
        "role": connection.role,
        "name": connection.user_name,
        "connected_at": connection.connected_at,
        "last_seen_at": clock.iso_from_epoch(float(connection.last_seen_at)),
        "live": connection.is_live(_live_window(), at),
        "source_ip": connection.source_ip,
        "user_agent": connection.user_agent,
        "expires_at": clock.iso_from_epoch(float(connection.expires_at)),
    }


# --- listing ------------------------------------------------------------------------------------


def _collect(query: Any, limit: int, now: float) -> tuple[list[ConnectionModel], dict[str, Any] | None, bool]:
    """Up to ``limit`` connections ``query`` lists that are still open as stored now (each page
    read again consistently: the index's copy of one closed a moment ago is still there); the
    key to resume after them, and whether the query ran out."""
    items: list[ConnectionModel] = []
    while len(items) < limit:
        wanted = limit - len(items)
        listed = [c.connection_id for c in itertools.islice(query, wanted)]
        items += [c for c in get_in_order(ConnectionModel, listed) if c.expires_at > int(now)]
        if len(listed) < wanted:
            return items, None, True
    return items, query.last_evaluated_key, query.last_evaluated_key is None


def list_connections(user_id: str | None = None, role: str | None = None,
                     limit: int = paging.DEFAULT_LIMIT, cursor: str | None = None) -> Page[dict[str, Any]]:
    """Open (unexpired) connection records, oldest first: one user's, one role's, or everyone's
    (agents' then visitors'). Each is marked ``live`` or not."""
    if role is not None and role not in ROLES:
        raise ValidationFailed(f"role must be one of {ROLES}")
    now = clock.epoch()
    state = paging.decode(cursor)
    not_expired = ConnectionModel.expires_at > int(now)
    if user_id:
        return _user_connections_page(user_id, now, limit, state)
    types = ["visitor"] if role == "visitor" else ["agent"] if role in ("agent", "admin") else list(USER_TYPES)
    if state is not None and state.get("type") in types:
        types = types[types.index(state["type"]):]
    elif state is not None:
        raise BadRequest("invalid cursor")
    condition = not_expired & (ConnectionModel.role == "admin") if role == "admin" else not_expired
    collected: list[ConnectionModel] = []
    for position, user_type in enumerate(types):
        start = paging.start_key(state, BY_TYPE_KEY, {"user_type": user_type}) if position == 0 else None
        query = ConnectionModel.by_type.query(user_type, filter_condition=condition,
                                              last_evaluated_key=start, page_size=limit)
        items, resume, done = _collect(query, limit - len(collected), now)
        collected += items
        if len(collected) >= limit:
            if not done:
                page_state = {"type": user_type, "key": resume}
            elif position + 1 < len(types):
                page_state = {"type": types[position + 1], "key": None}
            else:
                page_state = None
            return Page([connection_view(c, now) for c in collected], paging.encode(page_state))
    return Page([connection_view(c, now) for c in collected], None)


def _user_type_by_id(user_id: str) -> str:
    return "agent" if user_id.startswith("a_") else "visitor"


def _known_socket_ids(user_id: str) -> set[str]:
    """Every socket id a user may hold: their own socket set (read consistently, so a socket opened
    a moment ago is there) and the ``by_user`` index (sockets that left the set without their
    record being removed)."""
    ids = connections.sockets_of(user_id, _user_type_by_id(user_id))
    return ids | {c.connection_id for c in ConnectionModel.for_user(user_id)}


def user_connections(user_id: str, at: float | None = None) -> list[ConnectionModel]:
    """A user's unexpired connection records as they stand now, oldest first: every known id
    (``_known_socket_ids``) read consistently, so one deleted a moment ago is not listed."""
    at = clock.epoch() if at is None else at
    ids = _known_socket_ids(user_id)
    records = [c for c in get_all(ConnectionModel, sorted(ids))
               if c.user_id == user_id and c.expires_at > int(at)]
    return sorted(records, key=lambda c: (c.connected_at, c.connection_id))


def _user_connections_page(user_id: str, now: float, limit: int,
                           state: dict[str, Any] | None) -> Page[dict[str, Any]]:
    """A page of ``user_connections``; the cursor holds the position of the last one listed. A
    user holds a few sockets (``max_sockets_*``), so they are read whole and paged here."""
    after: tuple[str, str] | None = None
    if state is not None:
        position = state.get("after")
        if not (isinstance(position, list) and len(position) == 2 and all(isinstance(p, str) for p in position)):
            raise BadRequest("invalid cursor")
        after = (position[0], position[1])
    records = [c for c in user_connections(user_id, now)
               if after is None or (c.connected_at, c.connection_id) > after]
    page, more = records[:limit], len(records) > limit
    last = page[-1] if page else None
    next_state = {"after": [last.connected_at, last.connection_id]} if more and last is not None else None
    return Page([connection_view(c, now) for c in page], paging.encode(next_state))


def _gateway_view(connection_id: str) -> dict[str, Any]:
    """What the ``@connections`` API says about a socket: open (with its details) or gone."""
    try:
        described = push.describe(connection_id)
    except (BotoCoreError, ClientError) as e:
        logger.warning("could not describe connection", connection_id=connection_id,
                       error=type(e).__name__)
        return {"state": "unknown", "error": type(e).__name__}
    if described is None:
        return {"state": "gone"}
    identity = described.get("Identity") or {}

    def iso(value: Any) -> Any:
        return clock.iso(value) if isinstance(value, datetime) else value

    return {
        "state": "open",
        "connected_at": iso(described.get("ConnectedAt")),
        "last_active_at": iso(described.get("LastActiveAt")),
        "source_ip": identity.get("SourceIp"),
        "user_agent": identity.get("UserAgent"),
    }


def describe_connection(connection_id: str) -> dict[str, Any]:
    """The record of a connection and what API Gateway reports for it; ``not_found`` when neither
    knows it."""
    record = connections.get(connection_id)
    gateway = _gateway_view(connection_id)
    if record is None and gateway["state"] != "open":
        raise NotFound(f"no connection {connection_id}")
    body = connection_view(record) if record is not None else {"connection_id": connection_id}
    body["gateway"] = gateway
    return body


# --- online users ---------------------------------------------------------------------------------


def online_users(user_type: str, limit: int = paging.DEFAULT_LIMIT,
                 cursor: str | None = None) -> Page[dict[str, Any]]:
    """Users with at least one live connection, in the order their earliest live socket opened;
    with their live connection count, and their status: for agents their presence status, load and
    capacity; for visitors their open session's status (``queued``, ``active``) or ``idle``.

    Who is online is found through the ``by_type`` index, so a user whose first socket opened a
    moment ago may be missing until the index catches up (usually well under a second); what is
    shown of a listed user (their live sockets, status, load) is read consistently. A user is
    listed on the page that holds their earliest live socket in ``by_type`` order, so a user whose
    sockets span pages appears exactly once."""
    if user_type not in USER_TYPES:
        raise ValidationFailed(f"role must be one of {USER_TYPES}")
    now = clock.epoch()
    window = _live_window()
    start = paging.start_key(paging.decode(cursor), BY_TYPE_KEY, {"user_type": user_type})
    query = ConnectionModel.by_type.query(user_type, filter_condition=ConnectionModel.expires_at > int(now),
                                          last_evaluated_key=start, page_size=limit)
    found: dict[str, list[ConnectionModel]] = {}
    live_of: dict[str, list[ConnectionModel]] = {}
    resume: dict[str, Any] | None = None
    for connection in query:
        user_id = connection.user_id
        if user_id in found:
            continue
        if user_id not in live_of:
            live_of[user_id] = [c for c in user_connections(user_id, now) if c.is_live(window, now)]
        live = live_of[user_id]
        if not live or live[0].connection_id != connection.connection_id:
            continue  # listed with their earliest live socket, on another page (or not online)
        found[user_id] = live
        if len(found) >= limit:
            resume = query.last_evaluated_key
            break
    users = _describe_users(user_type, found)
    return Page(users, paging.encode({"key": resume}) if resume is not None else None)


def _describe_users(user_type: str, found: dict[str, list[ConnectionModel]]) -> list[dict[str, Any]]:
    profiles: dict[str, Any] = {}
    if found and user_type == "agent":
        profiles = {a.agent_id: a for a in get_all(AgentModel, list(found))}
    users = []
    for user_id, live in found.items():
        newest = max(live, key=lambda c: c.last_seen_at)
        user: dict[str, Any] = {
            "user_id": user_id,
            "user_type": user_type,
            "name": newest.user_name,
            "connections": len(live),
            "last_seen_at": clock.iso_from_epoch(float(newest.last_seen_at)),
            "since": min(c.connected_at for c in live),
            "status": "online",
        }
        agent = profiles.get(user_id)
        if user_type == "visitor":
            session = chat.open_session_of(user_id)
            user["status"] = session.status if session is not None else "idle"
            user["session_id"] = session.session_id if session is not None else None
        if user_type == "agent" and agent is not None:
            user.update(name=agent.display_name, role=agent.role, status=agent.status,
                        load=int(agent.active_count), capacity=int(agent.max_concurrent),
                        available=assignment.is_available(agent))
        users.append(user)
    return users


# --- closing --------------------------------------------------------------------------------------


class Closed(msgspec.Struct, frozen=True):
    connection_id: str
    was_open: bool  # the gateway still had the socket
    had_record: bool

    def to_dict(self) -> dict[str, Any]:
        return {"connection_id": self.connection_id, "was_open": self.was_open,
                "record_removed": self.had_record}


def _record_of(connection_id: str) -> ConnectionModel | None:
    try:
        return ConnectionModel.get(connection_id, consistent_read=True)
    except DoesNotExist:
        return None


def socket_closed(principal: Principal, connection_id: str) -> None:
    """A socket closed (``$disconnect``, or closed here): when it was the user's last open one,
    decided on consistent reads of the owner's socket set rather than the lagging index,
    presence changes."""
    if principal.is_agent:
        assignment.agent_disconnected(principal.user_id, connection_id)
        return
    left = connections.socket_left(principal.user_id, "visitor", connection_id)
    chat.visitor_socket_closed(principal.user_id, connection_id, last=not left)


def close_connection(connection_id: str, reason: str, *, require_known: bool = True) -> Closed:
    """Tell the client why (``disconnected``), close the socket, remove its record; works when the
    socket is already gone. ``not_found`` when neither the record nor the gateway knows it."""
    record = _record_of(connection_id)
    told = push.post(connection_id, {"type": "disconnected", "reason": reason})
    try:
        was_open = push.close(connection_id) or told
    except (BotoCoreError, ClientError) as e:
        logger.warning("could not close connection", connection_id=connection_id, error=type(e).__name__)
        was_open = told
    if record is None:
        if require_known and not was_open:
            raise NotFound(f"no connection {connection_id}")
        return Closed(connection_id, was_open, False)
    connections.unregister(connection_id)
    socket_closed(connections.principal_of(record), connection_id)
    logger.info("connection closed", connection_id=connection_id, user_id=record.user_id, reason=reason)
    return Closed(connection_id, was_open, True)


def user_type_of(user_id: str) -> str:
    """``agent`` or ``visitor``, from the record (read consistently); ``not_found`` for an unknown
    user."""
    for user_type, model, key in (("agent", AgentModel, "agent_id"), ("visitor", VisitorModel, "visitor_id")):
        try:
            model.get(user_id, attributes_to_get=[key], consistent_read=True)  # a user created a moment ago
        except DoesNotExist:
            continue
        return user_type
    raise NotFound(f"no user {user_id}")


def close_user_connections(user_id: str, reason: str) -> list[Closed]:
    """Close every open socket of a user (all tabs and devices): those on their own item (read
    consistently, so a socket opened a moment ago is there) and any the ``by_user`` index knows."""
    return [close_connection(connection_id, reason, require_known=False)
            for connection_id in sorted(_known_socket_ids(user_id))]


def disconnect_user(user_id: str, revoke_tokens: bool = False) -> dict[str, Any]:
    """Close every connection of a user; with ``revoke_tokens``, first invalidate every token
    issued to them so far, so none of them can reconnect or call the API."""
    user_type = user_type_of(user_id)
    if revoke_tokens:
        revocation.revoke(user_type, user_id)
    closed = close_user_connections(user_id, "tokens_revoked" if revoke_tokens else "disconnected_by_admin")
    return {"user_id": user_id, "user_type": user_type, "tokens_revoked": revoke_tokens,
            "closed": [c.to_dict() for c in closed]}


def ensure_sender_current(principal: Principal, connection_id: str, sender: senders.Sender | None) -> None:
    """A frame from a socket whose token was revoked since it connected (its sender gone, disabled,
    or at a newer token generation, as the frame's own write answered): close it, refuse the frame."""
    if sender is not None and sender.is_current(principal):
        return
    _close_revoked(connection_id)


def ensure_socket_current(principal: Principal, connection_id: str) -> None:
    """``ensure_sender_current`` for a frame that wrote nothing (refused by the rate limit): the
    generation is read (``revocation``, cached per container)."""
    if not revocation.is_current(principal):
        _close_revoked(connection_id)


def _close_revoked(connection_id: str) -> None:
    close_connection(connection_id, "tokens_revoked", require_known=False)
    raise Unauthorized("token revoked")
