"""The WebSocket protocol as an AsyncAPI 3.0 document: one message per client frame (``ws/frames``)
and per server frame (``ws/server_frames``), each with the JSON Schema of its Pydantic model.

    python -m chalicelib.ws.asyncapi            # rewrite docs/asyncapi.json

``tests/unit/test_protocol_schema.py`` fails when the committed file differs from what this writes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib import __version__
from chalicelib.ws import frames, server_frames

Json = dict[str, Any]
DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"
REF = "#/components/schemas/{model}"


def client_frames() -> dict[str, type[frames.Frame]]:
    """action -> model: every action the dispatcher accepts."""
    return dict(sorted(frames.FRAME_MODELS.items()))


def server_frame_models() -> dict[str, type[server_frames.ServerFrame]]:
    """type -> model: every frame the server sends."""
    return {server_frames.frame_type(model): model for model in server_frames.SERVER_FRAMES}


def _messages(kind: str, models: dict[str, type[BaseModel]], refs: dict) -> Json:
    return {f"{kind}.{name}": {"name": name, "title": f"{name} ({kind} frame)",
                               "summary": (model.__doc__ or "").strip().split("\n")[0] or name,
                               "contentType": "application/json",
                               "payload": refs[(model, "validation" if kind == "client" else "serialization")]}
            for name, model in models.items()}


def document() -> Json:
    clients, servers = client_frames(), server_frame_models()
    wanted = [(m, "validation") for m in clients.values()] + [(m, "serialization") for m in servers.values()]
    refs, definitions = models_json_schema(wanted, by_alias=True, ref_template=REF)
    messages = {**_messages("client", clients, refs), **_messages("server", servers, refs)}
    channel_messages = {name: {"$ref": f"#/components/messages/{name}"} for name in messages}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "kefu WebSocket protocol",
            "version": __version__,
            "description": "Client frames are JSON objects with an `action`; server frames have a `type`. "
                           "See docs/protocol.md for what each one does.",
        },
        "servers": {
            "aws": {"host": "{apiId}.execute-api.{region}.amazonaws.com", "pathname": "/api",
                    "protocol": "wss", "security": [{"$ref": "#/components/securitySchemes/ticketOrToken"}],
                    "variables": {"apiId": {"description": "the WebsocketAPI id (stack output)"},
                                  "region": {"description": "the stack's Region"}}},
            "local": {"host": "127.0.0.1:8001", "pathname": "/api", "protocol": "ws",
                      "security": [{"$ref": "#/components/securitySchemes/ticketOrToken"}]},
        },
        "channels": {"socket": {"address": "/", "messages": channel_messages}},
        "operations": {
            "clientFrames": {"action": "receive", "channel": {"$ref": "#/channels/socket"},
                             "summary": "what a client may send",
                             "messages": [{"$ref": f"#/channels/socket/messages/{name}"}
                                          for name in messages if name.startswith("client.")]},
            "serverFrames": {"action": "send", "channel": {"$ref": "#/channels/socket"},
                             "summary": "what the server sends (replies and pushes)",
                             "messages": [{"$ref": f"#/channels/socket/messages/{name}"}
                                          for name in messages if name.startswith("server.")]},
        },
        "components": {
            "messages": messages,
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"ticketOrToken": {
                "type": "httpApiKey", "in": "query", "name": "token",
                "description": "a visitor or agent token in ?token= (a missing or bad one: 403 on the handshake)"}},
        },
    }


def text() -> str:
    return json.dumps(document(), indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    DOCUMENT.write_text(text())
    sys.stdout.write(f"wrote {DOCUMENT}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
