"""/api/inbox and /api/customers: the console's closed conversations, search, customer panel."""

from chalice import Blueprint

from chalicelib.api.auth_guard import agent_auth, current_principal
from chalicelib.api.responses import int_param, json_response, query_params, route
from chalicelib.errors import ValidationFailed
from chalicelib.services import customers, inbox

bp = Blueprint(__name__)


@route(bp, "/api/inbox/closed", methods=["GET"], authorizer=agent_auth,
       query="ClosedQuery", answers={200: "SessionPage"}, errors=(403,))
def closed():
    params = query_params(bp)
    limit = int_param(params, "limit", 25, 1, 100)
    page = inbox.closed(current_principal(bp), params.get("scope", "mine"), limit, params.get("cursor") or None)
    return json_response({"sessions": [s.to_public() for s in page.items], "next": page.next})


@route(bp, "/api/inbox/search", methods=["GET"], authorizer=agent_auth,
       query="SearchQuery", answers={200: "SessionList"}, errors=(403,))
def search():
    query = query_params(bp).get("q", "")
    if not 1 <= len(query.strip()) <= 200:
        raise ValidationFailed("q must be 1 to 200 characters")
    return json_response({"sessions": [s.to_public() for s in inbox.search(current_principal(bp), query)]})


@route(bp, "/api/customers/{visitor_id}", methods=["GET"], authorizer=agent_auth,
       query="CustomerQuery", answers={200: "Customer"}, errors=(403, 404))
def customer(visitor_id: str):
    current = query_params(bp).get("session_id") or None
    return json_response(customers.profile(current_principal(bp), visitor_id, current))
