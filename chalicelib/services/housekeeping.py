"""Removing connection records of sockets that cannot be open any more."""

from __future__ import annotations

from chalicelib import clock, push
from chalicelib.models import ConnectionModel

API_GATEWAY_IDLE_TIMEOUT = 10 * 60
API_GATEWAY_MAX_CONNECTION = 2 * 3600


def purge_dead_connections(limit: int = 1000) -> int:
    """Delete records of sockets API Gateway has certainly closed (idle 10 min, or older than 2 h)
    whose $disconnect never arrived. Reads the ``by_type`` index, at most ``limit`` items a type."""
    now = clock.epoch()
    oldest_possible = clock.iso_from_epoch(now - API_GATEWAY_MAX_CONNECTION)
    removed = 0
    for user_type in ("visitor", "agent"):
        for connection in ConnectionModel.by_type.query(user_type, limit=limit):
            too_old = connection.connected_at < oldest_possible
            idle = connection.last_seen_at < now - API_GATEWAY_IDLE_TIMEOUT
            if too_old or idle or connection.expires_at <= now:
                push.forget_connection(connection.connection_id)
                removed += 1
    return removed
