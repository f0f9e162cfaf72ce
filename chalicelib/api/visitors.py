"""/api/visitors: anonymous customer sign-up (public)."""

from chalice import Blueprint

from chalicelib.api.responses import json_response, parse_body, route, source_ip
from chalicelib.services import ratelimit, visitors

bp = Blueprint(__name__)


@route(bp, "/api/visitors", methods=["POST"],
       body="SignUpBody", answers={201: "SignUp"}, errors=(429,))
def sign_up():
    from chalicelib.api.bodies import SignUpBody

    body = parse_body(bp, SignUpBody)
    ratelimit.per_ip("signup", source_ip(bp))
    return json_response(visitors.sign_up(body.name, body.email), status=201)
