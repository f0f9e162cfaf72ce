"""/api/auth: agent login (public)."""

from chalice import Blueprint

from chalicelib.api.responses import json_response, parse_body, route, source_ip
from chalicelib.services import agents, ratelimit

bp = Blueprint(__name__)


@route(bp, "/api/auth/login", methods=["POST"],
       body="LoginBody", answers={200: "Login"}, errors=(401, 429))
def login():
    from chalicelib.api.bodies import LoginBody

    body = parse_body(bp, LoginBody)
    attempt = ratelimit.login_attempt(body.username, source_ip(bp), body.device_token)
    result = agents.authenticate(body.username, body.password)  # a wrong password stays counted
    result["device_token"] = attempt.succeeded()
    return json_response(result)
