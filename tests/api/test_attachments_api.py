"""Attachments: a presigned POST straight to S3 (the local moto), checked by the server before the
message that references it is stored, downloaded through short-lived presigned GETs."""

from __future__ import annotations

import uuid

import pytest
import requests

from chalicelib.models import MessageModel

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(200)
PNG_SIZE = len(PNG)
PDF = b"%PDF-1.7\n" + bytes(100)
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + bytes(300)  # a Windows executable's first bytes
MB = 1024 * 1024


def _upload_url(api, caller, filename="photo.png", content_type="image/png", size=PNG_SIZE, session_id=None):
    body = {"filename": filename, "content_type": content_type, "size": size}
    if session_id:
        body["session_id"] = session_id
    return api.post("/api/attachments", caller, body=body)


def _upload(ticket: dict, data: bytes, filename="photo.png") -> requests.Response:
    upload = ticket["upload"]
    return requests.post(upload["url"], data=upload["fields"], files={"file": (filename, data)},
                         headers={"Origin": "http://localhost:8000"}, timeout=60)


def _send(api, caller, session_id, attachment_id, text=""):
    return api.post(f"/api/sessions/{session_id}/messages", caller,
                    body={"text": text, "client_msg_id": uuid.uuid4().hex, "attachment_id": attachment_id})


@pytest.fixture
def conversation(api, people):
    agent = people.agent(display_name="Alice", online=True)
    visitor = people.visitor()
    session_id = api.post("/api/sessions", visitor, body={"text": "hi", "client_msg_id": "m0"}
                          ).json_body["session"]["session_id"]
    return agent, visitor, session_id


def test_an_image_uploaded_straight_to_s3_is_sent_and_downloaded(api, conversation):
    agent, visitor, session_id = conversation
    ticket = _upload_url(api, visitor, session_id=session_id)
    assert ticket.status_code == 201, ticket.json_body

    uploaded = _upload(ticket.json_body, PNG)
    sent = _send(api, visitor, session_id, ticket.json_body["attachment_id"], "my receipt")

    assert uploaded.status_code == 204
    assert uploaded.headers["Access-Control-Allow-Origin"] == "http://localhost:8000"
    assert sent.status_code == 201, sent.json_body
    attachment = sent.json_body["message"]["attachment"]
    assert {k: attachment[k] for k in ("id", "name", "content_type", "size")} == {
        "id": ticket.json_body["attachment_id"], "name": "photo.png", "content_type": "image/png", "size": len(PNG)}
    history = api.get(f"/api/sessions/{session_id}/messages", agent).json_body["messages"]
    shown = history[0]["attachment"]
    downloaded = requests.get(shown["url"], timeout=30)
    assert downloaded.status_code == 200
    assert downloaded.content == PNG
    assert downloaded.headers["Content-Type"] == "image/png"


def test_an_agent_sends_a_pdf_too(api, conversation):
    agent, visitor, session_id = conversation
    ticket = _upload_url(api, agent, "invoice.pdf", "application/pdf", len(PDF), session_id).json_body
    _upload(ticket, PDF, "invoice.pdf")

    sent = _send(api, agent, session_id, ticket["attachment_id"])

    assert sent.status_code == 201, sent.json_body
    assert sent.json_body["message"]["text"] == ""
    described = api.get(f"/api/attachments/{ticket['attachment_id']}", visitor)
    assert described.status_code == 200
    assert described.json_body["content_type"] == "application/pdf"
    assert requests.get(described.json_body["url"], timeout=30).content == PDF


def test_the_first_message_can_carry_a_file(api, people):
    people.agent(online=True)
    visitor = people.visitor()
    ticket = _upload_url(api, visitor).json_body
    _upload(ticket, PNG)

    response = api.post("/api/sessions", visitor, body={"client_msg_id": "first",
                                                        "attachment_id": ticket["attachment_id"]})

    assert response.status_code == 201, response.json_body
    assert response.json_body["message"]["attachment"]["id"] == ticket["attachment_id"]


def test_a_20_mb_file_is_refused_by_the_upload_policy(api, conversation):
    _, visitor, session_id = conversation
    ticket = _upload_url(api, visitor, size=len(PNG), session_id=session_id).json_body  # the browser lies

    refused = _upload(ticket, PNG + bytes(20 * MB))

    assert refused.status_code == 400
    assert "<Code>EntityTooLarge</Code>" in refused.text
    assert refused.headers["Access-Control-Allow-Origin"] == "http://localhost:8000"
    sent = _send(api, visitor, session_id, ticket["attachment_id"])
    assert sent.status_code == 409
    assert sent.json_body["error"] == "attachment_not_uploaded"


def test_a_file_declared_larger_than_10_mb_gets_no_upload(api, conversation):
    _, visitor, session_id = conversation

    response = _upload_url(api, visitor, size=20 * MB, session_id=session_id)

    assert response.status_code == 413
    assert response.json_body["error"] == "attachment_too_large"


def test_an_upload_of_another_type_than_declared_is_refused_by_the_policy(api, conversation):
    _, visitor, session_id = conversation
    ticket = _upload_url(api, visitor, session_id=session_id).json_body
    ticket["upload"]["fields"]["Content-Type"] = "text/html"

    refused = _upload(ticket, PNG)

    assert refused.status_code == 403
    assert "Policy Condition failed" in refused.text


def test_an_executable_renamed_png_is_refused_by_its_first_bytes(api, conversation):
    agent, visitor, session_id = conversation
    ticket = _upload_url(api, visitor, "cat.png", "image/png", len(EXE), session_id).json_body
    assert _upload(ticket, EXE, "cat.png").status_code == 204

    sent = _send(api, visitor, session_id, ticket["attachment_id"])

    assert sent.status_code == 422
    assert sent.json_body["error"] == "attachment_rejected"
    assert "PNG, JPEG, GIF, WebP" in sent.json_body["message"]
    assert [m.text for m in MessageModel.query(session_id) if not m.system] == ["hi"]
    from chalicelib.services.attachments import object_key, s3_client

    listed = s3_client().list_objects_v2(Bucket="kefu-test-attachments", Prefix=object_key(ticket["attachment_id"]))
    assert listed.get("KeyCount", 0) == 0  # the object is deleted


@pytest.mark.parametrize("content_type", ["image/svg+xml", "text/html", "application/x-msdownload"])
def test_other_types_get_no_upload(api, conversation, content_type):
    _, visitor, session_id = conversation

    response = _upload_url(api, visitor, "x", content_type, 100, session_id)

    assert response.status_code == 415
    assert response.json_body["error"] == "unsupported_type"


def test_someone_elses_attachment_cannot_be_sent(api, people, conversation):
    _, visitor, session_id = conversation
    other = people.visitor()
    ticket = _upload_url(api, other).json_body
    _upload(ticket, PNG)

    response = _send(api, visitor, session_id, ticket["attachment_id"])

    assert response.status_code == 403


def test_one_file_goes_into_one_message_and_a_retry_is_fine(api, conversation):
    _, visitor, session_id = conversation
    ticket = _upload_url(api, visitor, session_id=session_id).json_body
    _upload(ticket, PNG)
    body = {"text": "", "client_msg_id": "with-file", "attachment_id": ticket["attachment_id"]}

    first = api.post(f"/api/sessions/{session_id}/messages", visitor, body=body)
    retry = api.post(f"/api/sessions/{session_id}/messages", visitor, body=body)
    reuse = _send(api, visitor, session_id, ticket["attachment_id"])

    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json_body["message"]["id"] == first.json_body["message"]["id"]
    assert reuse.status_code == 409


def test_strangers_cannot_fetch_a_conversations_file(api, people, conversation):
    _, visitor, session_id = conversation
    ticket = _upload_url(api, visitor, session_id=session_id).json_body
    _upload(ticket, PNG)
    _send(api, visitor, session_id, ticket["attachment_id"])

    assert api.get(f"/api/attachments/{ticket['attachment_id']}", people.visitor()).status_code == 403
    assert api.get(f"/api/attachments/{ticket['attachment_id']}", people.agent()).status_code == 403
    assert api.get(f"/api/attachments/{ticket['attachment_id']}").status_code == 401


def test_a_message_needs_text_or_a_file(api, conversation):
    _, visitor, session_id = conversation

    response = api.post(f"/api/sessions/{session_id}/messages", visitor, body={"text": "", "client_msg_id": "e"})

    assert response.status_code == 422
