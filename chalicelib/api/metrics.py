"""/api/metrics: measured performance and resources (admin)."""

from chalice import Blueprint

from chalicelib.api.auth_guard import agent_auth, current_principal, require_admin
from chalicelib.api.responses import json_response, route
from chalicelib.services import resources

bp = Blueprint(__name__)


@route(bp, "/api/metrics/resources", methods=["GET"], authorizer=agent_auth)
def resources_report():
    require_admin(current_principal(bp))
    return json_response(resources.report(bp.lambda_context))
