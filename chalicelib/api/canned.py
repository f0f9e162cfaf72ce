"""/api/canned-responses: saved replies, the team's (admins manage them) and each agent's own."""

from chalice import Blueprint, Response

from chalicelib.api.auth_guard import agent_auth, current_principal
from chalicelib.api.responses import json_response, parse_body, route
from chalicelib.services import canned

bp = Blueprint(__name__)


@route(bp, "/api/canned-responses", methods=["GET"], authorizer=agent_auth,
       answers={200: "CannedResponses"}, errors=(403,))
def list_replies():
    replies = canned.list_for(current_principal(bp))
    return json_response({"canned_responses": [r.to_public() for r in replies]})


@route(bp, "/api/canned-responses", methods=["POST"], authorizer=agent_auth,
       body="CannedResponseBody", answers={201: "CannedResponse"}, errors=(403,))
def create_reply():
    from chalicelib.api.bodies import CannedResponseBody

    body = parse_body(bp, CannedResponseBody)
    reply = canned.create(current_principal(bp), body.scope, body.shortcut, body.text, body.title)
    return json_response(reply.to_public(), status=201)


@route(bp, "/api/canned-responses/{canned_id}", methods=["PATCH"], authorizer=agent_auth,
       body="PatchCannedResponseBody", answers={200: "CannedResponse"}, errors=(403, 404))
def update_reply(canned_id: str):
    from chalicelib.api.bodies import PatchCannedResponseBody

    body = parse_body(bp, PatchCannedResponseBody)
    reply = canned.update(current_principal(bp), canned_id, body.shortcut, body.text, body.title)
    return json_response(reply.to_public())


@route(bp, "/api/canned-responses/{canned_id}", methods=["DELETE"], authorizer=agent_auth,
       answers={204: None}, errors=(403, 404))
def delete_reply(canned_id: str):
    canned.delete(current_principal(bp), canned_id)
    return Response(body="", status_code=204)
