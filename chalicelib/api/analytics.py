"""/api/analytics and /api/sessions/statistics: figures as JSON, CSV (``?format=csv``) or an SVG
chart (``?format=svg``). Admins see everything; an agent may read only their own per-agent figures."""

from chalice import Blueprint, Response

from chalicelib.api.auth_guard import any_auth, current_principal, require_admin
from chalicelib.api.responses import int_param, json_response, parse_body, query_params, route
from chalicelib.errors import Forbidden, ValidationFailed
from chalicelib.services.analytics import chart, csv_export, insights, periods, reports, statistics
from chalicelib.services.tokens import Principal

bp = Blueprint(__name__)

FORMATS = ("json", "csv", "svg")
MEDIA = ("text/csv", "image/svg+xml")  # the other formats of the same figures


def _staff(principal: Principal) -> None:
    if not principal.is_agent:
        raise Forbidden("analytics are for agents")


def _shaped(figures: dict, params: dict[str, str], name: str) -> Response:
    fmt = params.get("format", "json")
    if fmt not in FORMATS:
        raise ValidationFailed(f"format must be one of {FORMATS}")
    if fmt == "csv":
        table = params.get("table", "summary")
        return Response(body=csv_export.to_csv(figures, table), status_code=200, headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{name}-{table}.csv"'})
    if fmt == "svg":
        return Response(body=chart.to_svg(figures), status_code=200,
                        headers={"Content-Type": "image/svg+xml"})
    return json_response(figures)


@route(bp, "/api/sessions/statistics", methods=["GET"], authorizer=any_auth,
       query="StatisticsQuery", answers={200: "Statistics"},
       media=MEDIA, errors=(403,))
def get_statistics():
    principal = current_principal(bp)
    _staff(principal)
    params = query_params(bp)
    agent_id = params.get("agent_id") or None
    if not principal.is_admin:
        if agent_id not in (None, principal.user_id):
            raise Forbidden("agents may read only their own figures")
        agent_id = principal.user_id
    figures = statistics.statistics(
        periods.parse_day(params.get("from"), "from"),
        periods.parse_day(params.get("to"), "to"),
        params.get("tz"), agent_id, with_live=principal.is_admin)
    if not principal.is_admin:
        figures.pop("overall")
    return _shaped(figures, params, f"statistics-{figures['from']}-{figures['to']}")


@route(bp, "/api/analytics/report", methods=["GET"], authorizer=any_auth,
       query="ReportQuery", answers={200: "Report"},
       media=MEDIA, errors=(403, 404))
def get_report():
    principal = current_principal(bp)
    _staff(principal)
    require_admin(principal)
    params = query_params(bp)
    day = periods.parse_day(params.get("date"), "date")
    if day is None:
        raise ValidationFailed("date is required (YYYY-MM-DD)")
    return _shaped(reports.get_report(day), params, f"report-{day.isoformat()}")


@route(bp, "/api/analytics/report", methods=["POST"], authorizer=any_auth,
       body="ReportBody", answers={201: "GeneratedReports"},
       errors=(403,))
def generate_report():
    principal = current_principal(bp)
    _staff(principal)
    require_admin(principal)
    from chalicelib.api.bodies import ReportBody

    body = parse_body(bp, ReportBody)
    if body.date and (body.from_ or body.to):
        raise ValidationFailed("give either date or from and to")
    first = periods.parse_day(body.date or body.from_, "from")
    last = periods.parse_day(body.date or body.to, "to")
    if first is None or last is None:
        raise ValidationFailed("give date, or from and to")
    periods.period(first, last)  # the same bound as a range of statistics
    generated = reports.generate_reports(first, last)
    if body.date:
        return json_response(generated[0], status=201)
    return json_response({"reports": generated}, status=201)


@route(bp, "/api/analytics/insights", methods=["GET"], authorizer=any_auth,
       query="InsightsQuery", answers={200: "Insights"},
       errors=(403,))
def get_insights():
    principal = current_principal(bp)
    _staff(principal)
    require_admin(principal)
    days = int_param(query_params(bp), "days", 7, 1, periods.MAX_RANGE_DAYS)
    return json_response(insights.insights(days))
