"""/api/metrics: measured performance and resources (admin)."""

from chalice import Blueprint

from chalicelib.api.auth_guard import agent_auth, current_principal, require_admin
from chalicelib.api.responses import json_response, query_params, route
from chalicelib.errors import ValidationFailed
from chalicelib.services import performance, resources

bp = Blueprint(__name__)


@route(bp, "/api/metrics/resources", methods=["GET"], authorizer=agent_auth,
       answers={200: "Resources"}, errors=(403,))
def resources_report():
    require_admin(current_principal(bp))
    return json_response(resources.report(bp.lambda_context))


@route(bp, "/api/metrics/performance", methods=["GET"], authorizer=agent_auth,
       query="PerformanceQuery", answers={200: "Performance"},
       errors=(403,))
def performance_report():
    require_admin(current_principal(bp))
    raw = query_params(bp).get("window", "5")
    if raw not in {str(w) for w in performance.WINDOWS_MINUTES}:
        raise ValidationFailed(f"window must be one of {performance.WINDOWS_MINUTES} (minutes)")
    return json_response(performance.report(int(raw)))
