"""Removing connection records of sockets that cannot be open any more."""

from __future__ import annotations

from chalicelib.models import ConnectionModel
from chalicelib.services import connections, operations


def purge_dead_connections(limit: int = 1000) -> int:
    """Delete records of sockets API Gateway has certainly closed (idle 10 min, or older than 2 h)
    whose $disconnect never arrived, and do what that $disconnect would have done: the socket
    leaves its owner's set (an agent left with none leaves the pool). The ``by_type`` index finds
    candidates (at most ``limit`` items a type); each is confirmed on a consistent read and by
    the delete's condition, since the index may show a socket idle that spoke a moment ago."""
    removed = 0
    for user_type in ("visitor", "agent"):
        for listed in ConnectionModel.by_type.query(user_type, limit=limit):
            if not connections.is_closed(listed):
                continue
            record = connections.delete_if_closed(listed.connection_id)
            if record is not None:
                operations.socket_closed(connections.principal_of(record), record.connection_id)
                removed += 1
    return removed
