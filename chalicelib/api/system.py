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


@route(bp, "/api/system/health", methods=["GET"],
       answers={200: "Health", 503: "Health"})
def health():
    report = system.health()
    status = 200 if report["status"] == "ok" else 503
    if not _is_admin_caller():
        report = {"status": report["status"], "checked_at": report["checked_at"]}
    return json_response(report, status=status)


@route(bp, "/api/system/info", methods=["GET"], authorizer=agent_auth,
       answers={200: "Info"})
def info():
    return json_response(system.info())


@route(bp, "/api/openapi.json", methods=["GET"], answers={200: "OpenApiDocument"})
def openapi_document():
    """This API described as OpenAPI 3.1 (public: it holds no data)."""
    from chalicelib.api import openapi

    return json_response(openapi.document(bp.current_app, _stage_prefix() or "/"))


def _stage_prefix() -> str:
    """``/<stage>`` when API Gateway serves the API under a stage (its ``path`` is the
    ``resourcePath`` with the stage in front); empty locally."""
    context = bp.current_request.context or {}
    path, resource = context.get("path") or "", context.get("resourcePath") or ""
    return path[:-len(resource)] if resource and path.endswith(resource) else ""
