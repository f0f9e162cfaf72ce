"""/api/visitors: anonymous customer sign-up (public), their profile and identity."""

from chalice import Blueprint

from chalicelib.api.auth_guard import any_auth, current_principal
from chalicelib.api.responses import json_response, parse_body, route, source_ip
from chalicelib.errors import Forbidden
from chalicelib.services import identity, ratelimit, visitors
from chalicelib.services.tokens import Principal

bp = Blueprint(__name__)


@route(bp, "/api/visitors", methods=["POST"],
       body="SignUpIdentityBody", answers={201: "SignUp", 200: "SignUp"}, errors=(403, 409, 429))
def sign_up():
    from chalicelib.api.bodies import SignUpIdentityBody

    body = parse_body(bp, SignUpIdentityBody)
    ratelimit.sign_up(source_ip(bp))
    if body.user_id is None:
        return json_response(visitors.sign_up(body.name, body.email), status=201)
    visitor, created = identity.sign_up(identity.Identity(body.user_id, body.user_hash, body.name, body.email,
                                                          body.attributes))
    answer = {**visitors.token_for(visitor), "visitor": visitor.to_profile()}
    return json_response(answer, status=201 if created else 200)


def _visitor() -> Principal:
    principal = current_principal(bp)
    if principal.typ != "visitor":
        raise Forbidden("this is a visitor's own profile")
    return principal


@route(bp, "/api/visitors/me", methods=["GET"], authorizer=any_auth,
       answers={200: "VisitorProfile"}, errors=(403, 404))
def me():
    return json_response(visitors.get_visitor(_visitor().user_id).to_profile())


@route(bp, "/api/visitors/me", methods=["PATCH"], authorizer=any_auth,
       body="ProfileBody", answers={200: "VisitorProfile"}, errors=(403, 404))
def update_me():
    principal = _visitor()
    from chalicelib.api.bodies import ProfileBody

    body = parse_body(bp, ProfileBody)
    return json_response(visitors.update_profile(principal.user_id, body.name, body.email).to_profile())


@route(bp, "/api/visitors/me/identify", methods=["POST"], authorizer=any_auth,
       body="IdentifyBody", answers={200: "Identified"}, errors=(403, 404, 409))
def identify():
    principal = _visitor()
    from chalicelib.api.bodies import IdentifyBody

    body = parse_body(bp, IdentifyBody)
    identified = identity.identify(principal.user_id, identity.Identity(
        body.user_id, body.user_hash, body.name, body.email, body.attributes))
    return json_response(identified.to_dict())
