"""CORS for the REST API: which browser origins may call it (``KEFU_CORS_ORIGINS``).

The widget runs on a shop's pages and the console may be hosted apart from the API, so the API
answers browsers from the configured origins only. An entry is an exact origin
(``https://shop.example``) or an origin whose port is ``*`` (``http://localhost:*``, for local
development). The matching origin is echoed (with ``Vary: Origin``), never ``*``: requests carry a
bearer token. Preflight (``OPTIONS``) is answered by one view per path, without an authorizer,
because browsers send it without the token.
"""

from __future__ import annotations

from typing import Any

from chalice import Chalice, Response

from chalicelib.api import contract

ALLOW_HEADERS = "Authorization,Content-Type"
MAX_AGE_SECONDS = "600"


def allowed_origin(origin: str | None, patterns: tuple[str, ...]) -> str | None:
    """``origin`` when one of ``patterns`` admits it, else None."""
    if not origin:
        return None
    for pattern in patterns:
        if pattern == origin:
            return origin
        if pattern.endswith(":*"):
            base = pattern[:-2]
            rest = origin[len(base):]
            if origin.startswith(base + ":") and rest[1:].isdigit():
                return origin
    return None


def cors_headers(origin: str | None, methods: str | None = None) -> dict[str, str]:
    """The headers that let ``origin`` read a response (none when it is not allowed)."""
    from chalicelib.config import get_config

    allowed = allowed_origin(origin, get_config().cors_origins)
    headers = {"Vary": "Origin"}
    if allowed is None:
        return headers
    headers["Access-Control-Allow-Origin"] = allowed
    if methods is not None:
        headers.update({"Access-Control-Allow-Methods": methods,
                        "Access-Control-Allow-Headers": ALLOW_HEADERS,
                        "Access-Control-Max-Age": MAX_AGE_SECONDS})
    return headers


def _origin_of(request: Any) -> str | None:
    headers = request.headers if request is not None else {}
    return headers.get("origin") if headers is not None else None


def enable(app: Chalice) -> None:
    """Add the CORS headers to every REST response and an ``OPTIONS`` view to every path."""

    @app.middleware("http")
    def add_cors_headers(event: Any, get_response: Any) -> Response:
        response = get_response(event)
        response.headers.update(cors_headers(_origin_of(event)))
        return response

    for number, (path, methods) in enumerate(sorted(app.routes.items())):
        if "OPTIONS" in methods:
            continue
        allowed = ",".join(sorted(set(methods) | {"OPTIONS"}))
        app.route(path, methods=["OPTIONS"])(_preflight_view(app, allowed, number))


def refusal(origin: str) -> Response:
    """A preflight from an origin the API does not admit. The browser hides this answer from the
    page's script (the widget learns it from ``GET /api/widget/settings``), but shows it in its
    network panel: it names the setting to change."""
    hint = f"origin {origin} is not in KEFU_CORS_ORIGINS"
    return Response(body={"error": "cors_origin_refused", "message": f"{hint}: add it to call this API"},
                    status_code=403, headers={"Content-Type": "application/json", "Vary": "Origin",
                                              "X-Kefu-Cors-Error": hint})


def _preflight_view(app: Chalice, methods: str, number: int) -> Any:
    def preflight(**_params: str) -> Response:
        from chalicelib.config import get_config

        origin = _origin_of(app.current_request)
        if origin and allowed_origin(origin, get_config().cors_origins) is None:
            return refusal(origin)
        return Response(body="", status_code=204, headers=cors_headers(origin, methods))

    preflight.__name__ = f"cors_preflight_{number}"  # Chalice names views after their function
    preflight.__doc__ = "CORS preflight (no token needed)."
    return contract.attach(preflight, contract.Contract(answers={204: None}))
