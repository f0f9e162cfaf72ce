"""/api/system: health (public) and info."""

from chalice import Blueprint

from chalicelib.api.auth_guard import agent_auth
from chalicelib.api.responses import json_response, route
from chalicelib.services import system

bp = Blueprint(__name__)


@route(bp, "/api/system/health", methods=["GET"])
def health():
    report = system.health()
    return json_response(report, status=200 if report["status"] == "ok" else 503)


@route(bp, "/api/system/info", methods=["GET"], authorizer=agent_auth)
def info():
    return json_response(system.info())
