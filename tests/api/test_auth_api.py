"""POST /api/auth/login and the token checks every protected route relies on.

With ``chalice.test.Client`` a request without a token is 401 and a token the authorizer denies is
403 (API Gateway and the local stack map that deny to 401 ``invalid_token``; tested elsewhere).
"""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from chalicelib import clock
from chalicelib.errors import Unauthorized
from chalicelib.services import agents, tokens
from tests.api.conftest import PASSWORD


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(sub: str, typ: str = "agent", role: str = "agent", **overrides) -> dict:
    now = int(time.time())
    claims = {"sub": sub, "typ": typ, "role": role, "iat": now, "exp": now + 3600}
    claims.update(overrides)
    return claims


def _signed(claims: dict, secret: str | None = None, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret or tokens.signing_secret(), algorithm=algorithm)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- login ----------------------------------------------------------------------------------------


def test_login_returns_a_token_for_the_agent_and_their_profile(api, people):
    people.agent("alice", display_name="Alice A.")

    response = api.post("/api/auth/login", body={"username": "alice", "password": PASSWORD})

    assert response.status_code == 200
    body = response.json_body
    assert body["agent"]["username"] == "alice"
    assert body["agent"]["display_name"] == "Alice A."
    assert body["agent"]["role"] == "agent"
    assert "password_hash" not in body["agent"]
    assert PASSWORD not in response.body.decode()
    me = api.get("/api/agents/me", headers=_bearer(body["token"]))
    assert me.status_code == 200
    assert me.json_body["agent_id"] == body["agent"]["agent_id"]


def test_agent_token_carries_exp_iat_sub_role_and_typ(api, people):
    people.agent("admin1", role="admin")

    body = api.post("/api/auth/login", body={"username": "admin1", "password": PASSWORD}).json_body

    claims = jwt.decode(body["token"], tokens.signing_secret(), algorithms=["HS256"])
    assert {"exp", "iat", "sub", "role", "typ"} <= claims.keys()
    assert claims["sub"] == body["agent"]["agent_id"]
    assert (claims["typ"], claims["role"]) == ("agent", "admin")
    assert claims["exp"] - claims["iat"] == 12 * 3600
    assert jwt.get_unverified_header(body["token"])["alg"] == "HS256"
    assert clock.iso_from_epoch(claims["exp"]) == body["expires_at"]


def test_wrong_password_and_unknown_user_get_the_same_401(api, people):
    people.agent("alice")

    wrong_password = api.post("/api/auth/login", body={"username": "alice", "password": "not-the-one"})
    unknown_user = api.post("/api/auth/login", body={"username": "nobody", "password": PASSWORD})

    assert wrong_password.status_code == unknown_user.status_code == 401
    assert wrong_password.json_body == unknown_user.json_body
    assert wrong_password.json_body["error"] == "unauthorized"
    assert "token" not in wrong_password.json_body


def test_an_agent_deleted_a_moment_ago_cannot_log_in_though_the_username_index_still_lists_them(
        api, people, monkeypatch):
    from chalicelib.models import AgentModel

    admin = people.admin()
    people.agent("doomed")
    index_before = list(AgentModel.by_username.query("doomed"))
    doomed_id = index_before[0].agent_id
    assert api.call("delete", f"/api/agents/{doomed_id}", admin).status_code == 204
    # Within the index lag the username index still lists the deleted agent.
    monkeypatch.setattr(AgentModel.by_username, "query", lambda *args, **kwargs: iter(index_before))

    response = api.post("/api/auth/login", body={"username": "doomed", "password": PASSWORD})

    assert response.status_code == 401
    assert agents.find_by_username("doomed") is None


def test_login_without_both_credentials_is_a_validation_error(api, people):
    people.agent("alice")
    bodies = {"empty": {}, "no_password": {"username": "alice"}, "no_username": {"password": PASSWORD},
              "blank_username": {"username": "", "password": PASSWORD}}

    answers = {key: api.post("/api/auth/login", body=body) for key, body in bodies.items()}

    assert {k: (r.status_code, r.json_body["error"]) for k, r in answers.items()} == {
        k: (422, "validation_error") for k in bodies}


def test_login_with_malformed_json_is_invalid_json(api):
    response = api.post("/api/auth/login", raw='{"username": "alice",')

    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_json"


# --- token attacks ----------------------------------------------------------------------------------


def _alg_none_by_pyjwt(agent_id: str) -> str:
    return jwt.encode(_claims(agent_id, role="admin"), None, algorithm="none")


def _alg_none_by_hand_keeping_a_real_signature(agent_id: str) -> str:
    real = _signed(_claims(agent_id, role="admin"))
    _, payload, signature = real.split(".")
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.{signature}"


def _alg_none_capitalised(agent_id: str) -> str:
    return f"{_b64({'alg': 'None', 'typ': 'JWT'})}.{_b64(_claims(agent_id, role='admin'))}."


def _expired(agent_id: str) -> str:
    now = int(time.time())
    return _signed(_claims(agent_id, iat=now - 7200, exp=now - 60))


def _forged_with_another_secret(agent_id: str) -> str:
    return _signed(_claims(agent_id, role="admin"), secret="not-the-server-secret-at-all-0123456789")


def _tampered_payload(agent_id: str) -> str:
    real = _signed(_claims(agent_id, role="agent"))
    header, _, signature = real.split(".")
    return f"{header}.{_b64(_claims(agent_id, role='admin'))}.{signature}"


def _without_exp(agent_id: str) -> str:
    claims = _claims(agent_id)
    del claims["exp"]
    return _signed(claims)


def _agent_type_with_visitor_role(agent_id: str) -> str:
    return _signed(_claims(agent_id, typ="agent", role="visitor"))


def _unknown_type(agent_id: str) -> str:
    return _signed(_claims(agent_id, typ="service", role="admin"))


def _garbage(agent_id: str) -> str:
    return "not.a.jwt"


ATTACKS = [
    _alg_none_by_pyjwt,
    _alg_none_by_hand_keeping_a_real_signature,
    _alg_none_capitalised,
    _expired,
    _forged_with_another_secret,
    _tampered_payload,
    _without_exp,
    _agent_type_with_visitor_role,
    _unknown_type,
    _garbage,
]


def test_bad_tokens_are_refused_on_agent_and_admin_routes(api):
    admin = agents.create_agent("root", PASSWORD, role="admin")
    routes = [("get", "/api/agents/me"), ("get", "/api/agents"), ("post", "/api/agents"),
              ("post", "/api/kefu/cleanup")]
    mallory = {"username": "mallory", "password": "password123", "role": "admin"}

    answers = {
        attack.__name__.strip("_"): [api.call(method, path, headers=_bearer(attack(admin.agent_id)),
                                              body=mallory).status_code for method, path in routes]
        for attack in ATTACKS
    }

    assert answers == {attack.__name__.strip("_"): [403] * len(routes) for attack in ATTACKS}
    assert api.post("/api/auth/login", body={"username": "mallory", "password": "password123"}).status_code == 401


VISITOR_ATTACKS = {
    "alg_none": lambda sub: jwt.encode(_claims(sub, typ="visitor", role="visitor"), None, algorithm="none"),
    "expired": lambda sub: _signed(_claims(sub, typ="visitor", role="visitor", iat=int(time.time()) - 60,
                                           exp=int(time.time()) - 1)),
    "forged": lambda sub: _signed(_claims(sub, typ="visitor", role="visitor"),
                                  secret="not-the-server-secret-at-all-0123456789"),
    "visitor_claiming_admin": lambda sub: _signed(_claims(sub, typ="visitor", role="admin")),
}


def test_bad_visitor_tokens_are_refused_on_visitor_routes(api, people):
    visitor = people.visitor("Ann")

    answers = {name: api.get("/api/sessions", headers=_bearer(make(visitor.user_id))).status_code
               for name, make in VISITOR_ATTACKS.items()}

    assert answers == dict.fromkeys(VISITOR_ATTACKS, 403)


def test_visitor_token_is_refused_on_an_agent_route(api, people):
    visitor = people.visitor("Ann")

    response = api.get("/api/agents/me", visitor)

    assert response.status_code == 403


def test_a_request_without_a_token_is_unauthorized(api, people):
    people.agent("alice")

    assert api.get("/api/agents/me").status_code == 401
    assert api.get("/api/sessions").status_code == 401
    assert api.post("/api/kefu/cleanup").status_code == 401


def test_the_same_claims_signed_with_the_server_secret_are_accepted(api, people):
    agent = people.agent("alice")

    response = api.get("/api/agents/me", headers=_bearer(_signed(_claims(agent.user_id))))

    assert response.status_code == 200
    assert response.json_body["agent_id"] == agent.user_id


def test_token_verification_rejects_each_attack_in_the_service_too(empty_tables):
    admin = agents.create_agent("root", PASSWORD, role="admin")

    for make_token in ATTACKS:
        with pytest.raises(Unauthorized):
            tokens.verify(make_token(admin.agent_id), ("agent",))
