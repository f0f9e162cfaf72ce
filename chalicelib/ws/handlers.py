"""$connect / $default / $disconnect: authenticate, parse, dispatch, answer over @connections.

Replies go through ``push.post`` (API Gateway does not return a handler's value to the client
without route responses), so a reply and a fan-out take the same path.
"""

from __future__ import annotations

import time
from typing import Any

from chalice import Response

from chalicelib import push
from chalicelib.config import CHAT_CORE_TABLES
from chalicelib.errors import (
    Forbidden,
    InvalidJson,
    KefuError,
    RateLimited,
    TooLarge,
    Unauthorized,
    UnknownAction,
)
from chalicelib.jsontext import strict_json
from chalicelib.observability import logger
from chalicelib.services import (
    connections,
    conversations,
    operations,
    performance,
    ratelimit,
    revocation,
    tokens,
    wsstats,
)

# The tables each WebSocket function's role allows (read by ``infra.generate.function_needs``
# through ``app``; the local stack denies the others, as IAM would).
TABLES_USED_BY = {
    "ws_connect": (*CHAT_CORE_TABLES, "ws_tickets"),
    "ws_message": CHAT_CORE_TABLES,
    "ws_disconnect": CHAT_CORE_TABLES,
}

# API Gateway accepts messages up to 128 KB (in 32 KB frames); no kefu action needs more than one
# frame (4,000 characters of text is at most 16 KB of UTF-8), so larger messages are refused.
MAX_FRAME_BYTES = 32 * 1024



def _request_context(event: Any) -> dict[str, Any]:
    return event.to_dict().get("requestContext", {})


def _principal_of(event: Any) -> tokens.Principal:
    """Who opens the socket: a one-time ``?ticket=`` (consumed here), else ``?token=`` (works,
    but puts a long-lived token in a URL: docs/protocol.md)."""
    params = event.to_dict().get("queryStringParameters") or {}
    if params.get("ticket"):
        from chalicelib.services import tickets

        return tickets.redeem(params["ticket"], event.connection_id)
    return tokens.verify(params.get("token"))


def handle_connect(event: Any) -> Response | dict[str, Any]:
    """Authenticate with ``?ticket=`` or ``?token=``; a missing or bad one closes the handshake
    with 403."""
    context = _request_context(event)
    push.learn_endpoint(context.get("domainName", ""), context.get("stage", ""))
    try:
        principal = _principal_of(event)
    except Unauthorized as e:
        logger.info("connect rejected", reason=e.message)
        return Response(body={"error": "unauthorized", "message": e.message}, status_code=403)
    if not revocation.is_current(principal):  # gone, disabled, or tokens revoked
        logger.info("connect rejected", reason="token revoked")
        return Response(body={"error": "unauthorized", "message": "token revoked"}, status_code=403)
    from chalicelib.ws import actions

    # Presence first, the record after: whatever this wakes up (an agent back online serves the
    # queue) pushes to the user's other sockets only. This socket cannot be posted to until
    # $connect returns (API Gateway answers 410), and a 410 would delete its record; the client
    # asks for its state (list_sessions) once connected.
    actions.on_connected(principal, event.connection_id)
    identity = context.get("identity") or {}
    connections.register(event.connection_id, principal, identity.get("sourceIp"),
                         identity.get("userAgent"))
    cap = ratelimit.max_sockets(principal)
    if not actions.on_registered(principal, event.connection_id, cap):
        connections.unregister(event.connection_id)
        logger.info("connect rejected", reason="too many sockets", user_id=principal.user_id)
        return Response(body={"error": "rate_limited",
                              "message": f"at most {cap} open connections per user"},
                        status_code=429)
    logger.info("connected", connection_id=event.connection_id, user_id=principal.user_id,
                user_type=principal.typ)
    wsstats.record(connects=1)
    return {"statusCode": 200}


def handle_disconnect(event: Any) -> dict[str, Any]:
    try:
        record = connections.unregister(event.connection_id)
        if record is not None:
            from chalicelib.ws import actions

            actions.on_disconnected(connections.principal_of(record), event.connection_id)
    finally:  # the socket is gone whether or not its handler got through
        wsstats.record(disconnects=1)
    logger.info("disconnected", connection_id=event.connection_id)
    return {"statusCode": 200}


def error_frame(error: KefuError, action: str | None = None,
                client_msg_id: str | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": error.code, "message": error.message}
    if action:
        frame["action"] = action
    if client_msg_id:
        frame["client_msg_id"] = client_msg_id
    for name in ("retry_after", "fields"):  # as REST says them (Retry-After; the error body)
        if name in error.details:
            frame[name] = error.details[name]
    return frame


def decode_frame(body: str | bytes | None) -> dict[str, Any]:
    """The frame as a JSON object; ``too_large`` / ``invalid_json`` otherwise."""
    raw = body if isinstance(body, bytes) else (body or "").encode()
    if len(raw) > MAX_FRAME_BYTES:
        raise TooLarge(f"frame is larger than {MAX_FRAME_BYTES} bytes")
    data = strict_json(raw, "frame")
    if not isinstance(data, dict):
        raise InvalidJson("frame must be a JSON object")
    return data


def validate_frame(data: dict[str, Any]) -> Any:
    """The typed frame for ``data``'s action; ``unknown_action`` / ``validation_error`` otherwise."""
    from chalicelib.ws import frames

    action = data.get("action")
    model = frames.FRAME_MODELS.get(action) if isinstance(action, str) else None
    if model is None:
        raise UnknownAction(f"unknown action: {action!r}")
    return frames.validate(model, data)


def handle_message(event: Any) -> dict[str, Any]:
    """Route one client frame, timed per action (``services.performance``). The timing is
    recorded before the answer is posted, so whoever reads metrics after the answer sees it."""
    started = time.perf_counter()
    action, status, answer = _route_frame(event)
    performance.record("ws", action, time.perf_counter() - started, status)
    if answer is not None:
        push.post(event.connection_id, answer, frames_received=1)  # one stats write for frame and reply
    else:
        wsstats.record(frames_received=1)
    return {"statusCode": 200}


def _route_frame(event: Any) -> tuple[str, int, dict[str, Any] | None]:
    """Run one client frame; every failure becomes an error frame and the socket stays open.
    Returns the action (``invalid`` when there was none), the REST status of its outcome and the
    frame to answer with (None when there is none)."""
    from chalicelib.ws import actions

    connection_id = event.connection_id
    data: dict[str, Any] = {}
    try:
        invalid: KefuError | None = None
        try:
            data = decode_frame(event.body)
            frame = validate_frame(data)
        except KefuError as e:
            invalid = e  # counted against the rate limit like any frame, then answered
        principal = connections.principal_for(connection_id)
        if principal is None:
            raise Forbidden("this connection is not registered: reconnect")
        starts_conversation = invalid is None and data.get("action") == "start_session"
        # A start the pre-chat form may refuse spends its budgets only once admitted.
        spends_now = starts_conversation and not conversations.form_may_refuse()
        try:
            # the rate limit, a heartbeat (and a visitor's budget of new conversations): one write
            sender = actions.on_frame(principal, connection_id, spends_now)
        except RateLimited:
            operations.ensure_socket_current(principal, connection_id)  # revoked outranks over the limit
            raise
        operations.ensure_sender_current(principal, connection_id, sender)  # a revoked token: closed here
        if invalid is not None:
            raise invalid

        def spend_budgets(visitor_spent: bool = False) -> None:
            ratelimit.new_conversation(principal.user_id, connections.source_ip_of(connection_id),
                                       visitor_spent=visitor_spent)

        if spends_now:
            spend_budgets(visitor_spent=sender is not None and sender.conversation_spent)
        reply = actions.dispatch(principal, connection_id, frame, sender,
                                 spend_budgets if starts_conversation and not spends_now else None)
    except KefuError as e:
        action = data.get("action") if isinstance(data.get("action"), str) else None
        client_msg_id = data.get("client_msg_id") if isinstance(data.get("client_msg_id"), str) else None
        return _action_name(data), e.status, error_frame(e, action, client_msg_id)
    except Exception:
        logger.exception("unhandled error in frame", connection_id=connection_id)
        return _action_name(data), 500, {"type": "error", "code": "internal_error",
                                         "message": "An internal error occurred.",
                                         "action": data.get("action")}
    return _action_name(data), 200, reply


def _action_name(data: dict[str, Any]) -> str:
    """A known action's name; anything else is ``invalid`` (clients must not mint metric names)."""
    from chalicelib.ws.frames import FRAME_MODELS

    action = data.get("action")
    return action if isinstance(action, str) and action in FRAME_MODELS else "invalid"



