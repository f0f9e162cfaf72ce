"""WebSocket connections and presence heartbeats."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.models import ConnectionModel
from chalicelib.models.base import is_condition_failure
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
    )
    connection.save()
    return connection


def principal_of(connection: ConnectionModel) -> Principal:
    return Principal(user_id=connection.user_id, typ=connection.user_type, role=connection.role,
                     name=connection.user_name)


def get(connection_id: str) -> ConnectionModel | None:
    """The live record of a connection, or None when unknown or expired."""
    try:
        connection = ConnectionModel.get(connection_id)
    except DoesNotExist:
        return None
    if connection.expires_at <= clock.epoch():
        return None
    return connection


def record_frame(connection_id: str) -> None:
    """A client frame refreshes the connection's heartbeat (the rate limit is per user:
    ``ratelimit.count_message``). A record removed meanwhile is left alone."""
    try:
        ConnectionModel(connection_id).update(
            actions=[ConnectionModel.last_seen_at.set(clock.epoch())],
            condition=ConnectionModel.connection_id.exists(),
        )
    except UpdateError as e:
        if not is_condition_failure(e):
            raise


def unregister(connection_id: str) -> ConnectionModel | None:
    """Delete a connection record; returns what it was, if anything."""
    try:
        connection = ConnectionModel.get(connection_id)
    except DoesNotExist:
        return None
    connection.delete()
    return connection


def live_connections(user_id: str) -> list[ConnectionModel]:
    """A user's connections that are within the heartbeat window."""
    window = get_config().heartbeat_window_seconds
    at = clock.epoch()
    return [c for c in ConnectionModel.for_user(user_id) if c.is_live(window, at)]
