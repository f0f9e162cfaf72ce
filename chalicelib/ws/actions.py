"""What each client action does: thin calls into the services."""

from __future__ import annotations

from typing import Any

from chalicelib.services.tokens import Principal
from chalicelib.ws import frames


def on_connected(principal: Principal, connection_id: str) -> None:
    """A socket opened (presence)."""


def on_disconnected(principal: Principal) -> None:
    """A socket closed (presence)."""


def on_activity(principal: Principal, connection_id: str) -> None:
    """Any frame: refresh the heartbeat."""
    from chalicelib.services import connections

    connections.touch(connection_id)


def dispatch(principal: Principal, connection_id: str, frame: frames.Frame) -> dict[str, Any] | None:
    from chalicelib.ws.handlers import pong

    if isinstance(frame, frames.Ping):
        return pong(connection_id)
    return None
