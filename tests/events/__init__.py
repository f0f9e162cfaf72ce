"""Canned API Gateway WebSocket events, of the shape API Gateway sends (and the local gateway
builds), for calling the deployed handlers (``app.ws_connect``, ``ws_message``, ``ws_disconnect``)
directly: Chalice's test client has no WebSocket support."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from devstack.lambda_runtime import LambdaContext

_ids = itertools.count(1)


def _context(connection_id: str, route_key: str, event_type: str, source_ip: str) -> dict[str, Any]:
    now_ms = int(time.time() * 1000)
    return {"routeKey": route_key, "eventType": event_type, "messageDirection": "IN", "stage": "api",
            "connectedAt": now_ms, "requestTimeEpoch": now_ms, "requestId": f"req-{next(_ids)}",
            "identity": {"sourceIp": source_ip, "userAgent": "tests"}, "domainName": "127.0.0.1",
            "connectionId": connection_id, "apiId": "tests"}


def connect_event(connection_id: str, token: str, source_ip: str = "127.0.0.1") -> dict[str, Any]:
    return {"queryStringParameters": {"token": token}, "headers": {}, "isBase64Encoded": False,
            "requestContext": _context(connection_id, "$connect", "CONNECT", source_ip)}


def message_event(connection_id: str, frame: dict[str, Any] | str, source_ip: str = "127.0.0.1") -> dict[str, Any]:
    body = frame if isinstance(frame, str) else json.dumps(frame)
    return {"body": body, "isBase64Encoded": False,
            "requestContext": _context(connection_id, "$default", "MESSAGE", source_ip)}


def disconnect_event(connection_id: str) -> dict[str, Any]:
    return {"headers": {}, "isBase64Encoded": False,
            "requestContext": _context(connection_id, "$disconnect", "DISCONNECT", "127.0.0.1")}


def context(handler: str = "ws_message") -> LambdaContext:
    return LambdaContext(f"kefu-test-{handler}")
