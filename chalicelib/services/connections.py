"""WebSocket connections and presence heartbeats."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.models import AgentModel, ConnectionModel, VisitorModel
from chalicelib.models.base import conditional, get_or_none, retrying
from chalicelib.services.tokens import Principal


def register(connection_id: str, principal: Principal, source_ip: str | None,
             user_agent: str | None) -> ConnectionModel:
    """Record a new socket of ``principal``; it expires with API Gateway's 2-hour limit."""
    config = get_config()
    at = clock.epoch()
    connection = ConnectionModel(
        connection_id,
        user_id=principal.user_id,
        user_type=principal.typ,
        user_name=principal.name,
        role=principal.role,
        connected_at=clock.iso(),
        last_seen_at=at,
        source_ip=source_ip,
        user_agent=(user_agent or "")[:512] or None,
        expires_at=int(at + config.connection_ttl_seconds),
        token_gen=principal.gen,
    )
    retrying(connection.save)
    return connection


def principal_of(connection: ConnectionModel) -> Principal:
    return Principal(user_id=connection.user_id, typ=connection.user_type, role=connection.role,
                     name=connection.user_name, gen=int(connection.token_gen or 0))


def get(connection_id: str) -> ConnectionModel | None:
    """The live record of a connection, or None when unknown or expired."""
    try:
        connection = ConnectionModel.get(connection_id, consistent_read=True)
    except DoesNotExist:
        return None
    if connection.expires_at <= clock.epoch():
        return None
    return connection


def record_frame(connection_id: str) -> None:
    """A client frame refreshes the connection's heartbeat (the rate limit is per user:
    ``ratelimit.count_message``). A record removed meanwhile is left alone."""
    conditional(lambda: ConnectionModel(connection_id).update(
        actions=[ConnectionModel.last_seen_at.set(clock.epoch())],
        condition=ConnectionModel.connection_id.exists(),
    ))


def unregister(connection_id: str) -> ConnectionModel | None:
    """Delete a connection record; returns what it was, if anything."""
    connection = get_or_none(ConnectionModel, connection_id)
    if connection is None:
        return None
    retrying(connection.delete)
    return connection


def is_open(connection_id: str) -> bool:
    """The socket's record exists (read consistently), has not expired and spoke within the
    heartbeat window."""
    connection = get_or_none(ConnectionModel, connection_id)
    return connection is not None and connection.is_live(get_config().heartbeat_window_seconds)


def is_dead(connection_id: str) -> bool:
    """The socket's record exists but has expired or fell silent: its $disconnect never came.
    (A missing record may be a socket still in its $connect, which registers after presence.)"""
    connection = get_or_none(ConnectionModel, connection_id)
    return connection is not None and not connection.is_live(get_config().heartbeat_window_seconds)


def _owner_model(user_type: str) -> type[AgentModel] | type[VisitorModel]:
    return VisitorModel if user_type == "visitor" else AgentModel


def sockets_of(user_id: str, user_type: str) -> set[str]:
    """The user's open sockets as their own item records them (consistent)."""
    owner = get_or_none(_owner_model(user_type), user_id)
    return set(owner.socket_ids or ()) if owner is not None else set()


def is_present(user_id: str, user_type: str) -> bool:
    """The user has a live socket, decided on consistent reads (never on the lagging index)."""
    return any(is_open(c) for c in sockets_of(user_id, user_type))


def add_visitor_socket(visitor_id: str, connection_id: str) -> None:
    conditional(lambda: VisitorModel(visitor_id).update(actions=[VisitorModel.socket_ids.add({connection_id})],
                                                        condition=VisitorModel.visitor_id.exists()))


def forget_visitor_sockets(visitor_id: str, connection_ids: set[str]) -> set[str]:
    """Take closed sockets off the visitor's set; returns the ones left."""
    visitor = VisitorModel(visitor_id)
    if not conditional(lambda: visitor.update(actions=[VisitorModel.socket_ids.delete(connection_ids)],
                                              condition=VisitorModel.visitor_id.exists())):
        return set()
    return set(visitor.socket_ids or ())
