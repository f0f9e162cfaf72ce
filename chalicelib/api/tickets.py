"""/api/ws/ticket: a one-time ticket to open a WebSocket with (``?ticket=``), so that no
long-lived token appears in a WebSocket URL (docs/protocol.md, "Connecting")."""

from chalice import Blueprint

from chalicelib.api.auth_guard import any_auth
from chalicelib.api.responses import json_response, route
from chalicelib.services import ratelimit, tickets, tokens

bp = Blueprint(__name__)


@route(bp, "/api/ws/ticket", methods=["POST"], authorizer=any_auth,
       answers={201: "WsTicket"}, errors=(429,))
def create_ticket():
    # The token again, not the authorizer's context: the ticket keeps the token's generation, so
    # revoking the token revokes its tickets.
    principal = tokens.verify(bp.current_request.headers.get("authorization"))
    ratelimit.count_message(principal.user_id)  # one write per ticket: from the user's budget
    return json_response(tickets.issue(principal), status=201)
