"""/api/auth: agent login (public)."""

from chalice import Blueprint

from chalicelib.api.responses import json_response, parse_body, route, source_ip
from chalicelib.errors import Unauthorized
from chalicelib.services import agents, ratelimit

bp = Blueprint(__name__)


@route(bp, "/api/auth/login", methods=["POST"],
       body="LoginBody", answers={200: "Login"}, errors=(401, 429))
def login():
    from chalicelib.api.bodies import LoginBody

    body = parse_body(bp, LoginBody)
    ip = source_ip(bp)
    ratelimit.check_login(body.username, ip, ratelimit.is_known_ip(body.username, ip))
    try:
        result = agents.authenticate(body.username, body.password)
    except Unauthorized:
        ratelimit.record_login_failure(body.username, ip)
        raise
    ratelimit.record_login_success(body.username, ip)
    return json_response(result)
