"""/api/visitors: anonymous customer sign-up (public)."""

from chalice import Blueprint

from chalicelib.api.responses import json_response, parse_body, route
from chalicelib.services import visitors

bp = Blueprint(__name__)




@route(bp, "/api/visitors", methods=["POST"])
def sign_up():
    from chalicelib.api.bodies import SignUpBody

    body = parse_body(bp, SignUpBody)
    return json_response(visitors.sign_up(body.name, body.email), status=201)
