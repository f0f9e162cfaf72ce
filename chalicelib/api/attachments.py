"""/api/attachments: a presigned POST to upload a file straight to S3, and a fresh download URL."""

from chalice import Blueprint

from chalicelib.api.auth_guard import any_auth, current_principal
from chalicelib.api.responses import json_response, parse_body, route
from chalicelib.services import conversations

bp = Blueprint(__name__)


@route(bp, "/api/attachments", methods=["POST"], authorizer=any_auth,
       body="AttachmentBody", answers={201: "Upload"}, errors=(403, 404))
def start_upload():
    from chalicelib.api.bodies import AttachmentBody

    body = parse_body(bp, AttachmentBody)
    upload = conversations.start_upload(current_principal(bp), body.filename, body.content_type, body.size,
                                        body.session_id)
    return json_response(upload, status=201)


@route(bp, "/api/attachments/{attachment_id}", methods=["GET"], authorizer=any_auth,
       answers={200: "Attachment"}, errors=(403, 404))
def describe(attachment_id: str):
    return json_response(conversations.attachment_for(current_principal(bp), attachment_id))
