"""/api/messages: message management for agents (their own sessions) and admins (all)."""

from chalice import Blueprint

from chalicelib.api.auth_guard import any_auth, current_principal, require_agent
from chalicelib.api.responses import json_response, parse_body, route
from chalicelib.services import messages, receipts

bp = Blueprint(__name__)


@route(bp, "/api/messages/bulk-delete", methods=["POST"], authorizer=any_auth,
       body="BulkDeleteBody", answers={200: "BulkDeleted"},
       errors=(403, 404, 409))
def bulk_delete():
    principal = current_principal(bp)
    require_agent(principal)
    from chalicelib.api.bodies import BulkDeleteBody

    body = parse_body(bp, BulkDeleteBody)
    return json_response(messages.bulk_delete(principal, body.session_id, body.message_ids))


@route(bp, "/api/messages/mark-read", methods=["POST"], authorizer=any_auth,
       body="MarkReadBody", answers={200: "ReadReceipt"},
       errors=(403, 404, 409))
def mark_read():
    principal = current_principal(bp)
    require_agent(principal)
    from chalicelib.api.bodies import MarkReadBody

    body = parse_body(bp, MarkReadBody)
    return json_response(receipts.mark_read(principal, body.session_id, body.up_to))
