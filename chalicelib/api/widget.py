"""/api/widget: the widget's settings (public read, admin write) and whether anyone can answer now.

Both GETs are public and answer any origin (``Access-Control-Allow-Origin: *``, no credentials):
they hold nothing private, and a widget on a page whose origin the API refuses must still learn
that it is refused (``cors``), to say so in the browser's console.
"""

from chalice import Blueprint, Response

from chalicelib.api.auth_guard import agent_auth, current_principal, require_admin
from chalicelib.api.cors import allowed_origin
from chalicelib.api.responses import json_response, parse_body, route
from chalicelib.config import get_config
from chalicelib.services import answering, widget_settings

bp = Blueprint(__name__)

SETTINGS_CACHE = "public, max-age=60"
AVAILABILITY_CACHE = "public, max-age=5"
ANY_ORIGIN = {"Access-Control-Allow-Origin": "*"}


def _header(name: str) -> str | None:
    return (bp.current_request.headers or {}).get(name)


def _settings_body(settings: widget_settings.WidgetSettings) -> dict:
    origin = _header("origin")
    allowed = origin is not None and allowed_origin(origin, get_config().cors_origins) is not None
    return {**settings.document, "updated_at": settings.updated_at,
            "cors": {"origin": origin, "allowed": allowed, "setting": "KEFU_CORS_ORIGINS"}}


@route(bp, "/api/widget/settings", methods=["GET"], answers={200: "WidgetSettings", 304: None},
       headers={"If-None-Match": "the ETag of a copy held: 304 while it is current"})
def get_settings():
    settings = widget_settings.current()
    body = _settings_body(settings)
    etag = settings.etag(body)
    headers = {"Cache-Control": SETTINGS_CACHE, "ETag": etag, "Vary": "Origin", **ANY_ORIGIN}
    cached = [tag.strip() for tag in (_header("if-none-match") or "").split(",")]
    if etag in cached or f"W/{etag}" in cached:
        return Response(body="", status_code=304, headers=headers)
    return json_response(body, headers=headers)


@route(bp, "/api/widget/settings", methods=["PUT"], authorizer=agent_auth,
       body="WidgetSettingsBody", answers={200: "WidgetSettings"}, errors=(403, 412),
       headers={"If-Match": "the ETag of the settings this replaces: 412 when they changed since"})
def put_settings():
    principal = current_principal(bp)
    require_admin(principal)
    from chalicelib.api.bodies import WidgetSettingsBody

    document = parse_body(bp, WidgetSettingsBody).model_dump()
    saved = widget_settings.replace(document, principal.user_id, _header("if-match"))
    body = _settings_body(saved)
    return json_response(body, headers={"ETag": saved.etag(body), "Cache-Control": "no-store"})


@route(bp, "/api/widget/availability", methods=["GET"], answers={200: "Availability"})
def availability():
    return json_response(answering.who_can_answer().to_dict(),
                         headers={"Cache-Control": AVAILABILITY_CACHE, **ANY_ORIGIN})
