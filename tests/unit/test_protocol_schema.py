"""docs/asyncapi.json: generated from the frame models, committed, and what docs/protocol.md
points to; its schemas accept the frames the protocol sends and refuse what the server refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from chalicelib import errors
from chalicelib.ws import asyncapi, frames, server_frames

DOCS = Path(__file__).resolve().parents[2] / "docs"


def schema_of(document: dict, message: str) -> Draft202012Validator:
    """A validator for one message's payload, its references resolved inside the document."""
    payload = document["components"]["messages"][message]["payload"]
    return Draft202012Validator({**payload, "components": document["components"]})


def test_the_committed_document_is_the_generated_one():
    committed = (DOCS / "asyncapi.json").read_text()

    assert committed == asyncapi.text(), "run: python -m chalicelib.ws.asyncapi"


def test_protocol_md_points_to_the_document():
    assert "asyncapi.json" in (DOCS / "protocol.md").read_text()


def test_every_action_the_dispatcher_accepts_and_every_server_frame_is_a_message():
    messages = json.loads((DOCS / "asyncapi.json").read_text())["components"]["messages"]

    assert {name.removeprefix("client.") for name in messages if name.startswith("client.")} \
        == set(frames.FRAME_MODELS)
    assert {name.removeprefix("server.") for name in messages if name.startswith("server.")} \
        == {server_frames.frame_type(m) for m in server_frames.SERVER_FRAMES}
    for message in messages.values():
        Draft202012Validator.check_schema(message["payload"])


@pytest.mark.parametrize(("message", "frame"), [
    ("client.ping", {"action": "ping"}),
    ("client.send_message", {"action": "send_message", "session_id": "s", "client_msg_id": "c", "text": "hi"}),
    ("client.get_history", {"action": "get_history", "session_id": "s", "limit": 100}),
    ("server.pong", {"type": "pong", "connection_id": "c", "server_time": "2024-01-01T00:00:00Z"}),
    ("server.error", {"type": "error", "code": "validation_error", "message": "text: missing"}),
    ("server.session.queued", {"type": "session.queued", "session_id": "s", "position": 1, "version": 1,
                               "position_seq": 0}),
])
def test_the_schemas_accept_frames_of_the_protocol(message, frame):
    document = asyncapi.document()

    schema_of(document, message).validate(frame)


@pytest.mark.parametrize(("message", "frame"), [
    ("client.send_message", {"action": "send_message", "session_id": "s", "client_msg_id": "c", "text": ""}),
    ("client.send_message", {"action": "send_message", "session_id": "s", "text": "hi"}),
    ("client.get_history", {"action": "get_history", "session_id": "s", "limit": 101}),
    ("client.rate_session", {"action": "rate_session", "session_id": "s", "rating": 6}),
    ("server.error", {"type": "error", "code": "no_such_code", "message": "x"}),
])
def test_the_schemas_refuse_what_the_server_refuses(message, frame):
    document = asyncapi.document()

    with pytest.raises(ValidationError):
        schema_of(document, message).validate(frame)


def test_error_frames_name_every_code_a_domain_error_has():
    codes = set(server_frames.ERROR_CODES)

    assert {errors.ValidationFailed.code, errors.UnknownAction.code, errors.InvalidJson.code,
            errors.TooLarge.code, errors.Forbidden.code, errors.RateLimited.code, "internal_error"} <= codes
