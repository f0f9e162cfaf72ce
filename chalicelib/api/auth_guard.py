"""The Chalice authorizers and the principal of the current request.

``agent_auth`` admits agent tokens, ``any_auth`` agent or visitor tokens. A token that fails is
denied at the gateway (the merged template maps that to 401 ``invalid_token``); roles are checked
in the views with ``require_admin``. A revoked token fails too (``revocation``): API Gateway caches
an authorizer's answer per token for ``AUTHORIZER_TTL_SECONDS``, and ``revocation`` caches a user's
generation for at most 30 s more, so a revocation takes effect within 60 s.
"""

from __future__ import annotations

from chalice import AuthResponse, Blueprint

from chalicelib.errors import Forbidden, Unauthorized
from chalicelib.services import revocation, tokens
from chalicelib.services.tokens import Principal

bp = Blueprint(__name__)

# What the authorizer functions touch (the generated IAM policy gives them these tables alone, and
# no @connections): a token is checked against its user's record for revocation.
TABLES_USED = ("agents", "visitors")
PUSHES_TO_SOCKETS = False

AUTHORIZER_TTL_SECONDS = 30


def _auth_response(auth_request, allowed: tuple[str, ...]) -> AuthResponse:
    try:
        principal = tokens.verify(auth_request.token, allowed)
    except Unauthorized:
        return AuthResponse(routes=[], principal_id="anonymous")
    if not revocation.is_current(principal):
        return AuthResponse(routes=[], principal_id="anonymous")
    return AuthResponse(
        routes=["*"],
        principal_id=principal.user_id,
        context={"typ": principal.typ, "role": principal.role, "name": principal.name or ""},
    )


@bp.authorizer(ttl_seconds=AUTHORIZER_TTL_SECONDS)
def agent_auth(auth_request):
    return _auth_response(auth_request, ("agent",))


@bp.authorizer(ttl_seconds=AUTHORIZER_TTL_SECONDS)
def any_auth(auth_request):
    return _auth_response(auth_request, ("agent", "visitor"))


def current_principal(blueprint: Blueprint) -> Principal:
    """Who is calling, as the authorizer vouched for them."""
    context = (blueprint.current_request.context or {}).get("authorizer") or {}
    user_id = context.get("principalId")
    if not user_id or context.get("typ") not in tokens.TOKEN_TYPES:
        raise Unauthorized("missing or invalid token")
    return Principal(user_id=user_id, typ=context["typ"], role=context.get("role", ""),
                     name=context.get("name") or None)


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("this action needs the admin role")


def require_agent(principal: Principal) -> None:
    if not principal.is_agent:
        raise Forbidden("this action is for agents")
