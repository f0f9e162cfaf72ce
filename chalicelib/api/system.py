"""/api/system: health (public) and info."""

from chalice import Blueprint

from chalicelib.api.auth_guard import agent_auth
from chalicelib.api.responses import json_response, route
from chalicelib.errors import Unauthorized
from chalicelib.services import system, tokens

bp = Blueprint(__name__)


def _is_admin_caller() -> bool:
    """Health is public; an admin's bearer token (optional here) unlocks the per-table details."""
    header = (bp.current_request.headers or {}).get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    try:
        return tokens.verify(token.strip(), ("agent",)).is_admin
    except Unauthorized:
        return False


@route(bp, "/api/system/health", methods=["GET"])
def health():
    report = system.health()
    status = 200 if report["status"] == "ok" else 503
    if not _is_admin_caller():
        report = {"status": report["status"], "checked_at": report["checked_at"]}
    return json_response(report, status=status)


@route(bp, "/api/system/info", methods=["GET"], authorizer=agent_auth)
def info():
    return json_response(system.info())
