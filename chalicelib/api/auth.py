"""/api/auth: agent login (public)."""

from chalice import Blueprint

from chalicelib.api.responses import json_response, parse_body, route
from chalicelib.services import agents

bp = Blueprint(__name__)




@route(bp, "/api/auth/login", methods=["POST"])
def login():
    from chalicelib.api.bodies import LoginBody

    body = parse_body(bp, LoginBody)
    return json_response(agents.authenticate(body.username, body.password))
