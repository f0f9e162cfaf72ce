"""The WebSocket protocol as an AsyncAPI 3.0 document: one message per client frame (``ws/frames``,
msgspec structs) and per server frame (``ws/server_frames``, Pydantic models), each with the JSON
Schema of its model, in one set of components.

    python -m chalicelib.ws.asyncapi            # rewrite docs/asyncapi.json

``tests/unit/test_protocol_schema.py`` fails when the committed file differs from what this writes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import msgspec
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


def _messages(kind: str, models: dict[str, type], payloads: dict[type, Json]) -> Json:
    return {f"{kind}.{name}": {"name": name, "title": f"{name} ({kind} frame)",
                               "summary": (model.__doc__ or "").strip().split("\n")[0] or name,
                               "contentType": "application/json",
                               "payload": payloads[model]}
            for name, model in models.items()}


def _client_schemas(models: list[type[frames.Frame]]) -> tuple[dict[type, Json], Json]:
    """Each client frame's payload schema and the components they refer to (msgspec's)."""
    wanted = [Annotated[m, msgspec.Meta(extra_json_schema=frames.TEXT_OR_ATTACHMENT)]
              if m is frames.SendMessage else m for m in models]
    payloads, components = msgspec.json.schema_components(wanted, ref_template=REF.format(model="{name}"))
    return dict(zip(models, payloads, strict=True)), components


def _server_schemas(models: list[type[server_frames.ServerFrame]]) -> tuple[dict[type, Json], Json]:
    """Each server frame's payload schema and the components they refer to (Pydantic's)."""
    refs, definitions = models_json_schema([(m, "serialization") for m in models], by_alias=True,
                                           ref_template=REF)
    return {m: refs[(m, "serialization")] for m in models}, definitions.get("$defs", {})


def document() -> Json:
    clients, servers = client_frames(), server_frame_models()
    client_payloads, client_components = _client_schemas(list(clients.values()))
    server_payloads, server_components = _server_schemas(list(servers.values()))
    clashing = client_components.keys() & server_components.keys()
    if clashing:
        raise ValueError(f"a client and a server frame model share a name: {sorted(clashing)}")
    messages = {**_messages("client", clients, client_payloads), **_messages("server", servers, server_payloads)}
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
            "schemas": dict(sorted({**client_components, **server_components}.items())),
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
