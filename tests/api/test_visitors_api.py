"""POST /api/visitors: anonymous customer sign-up, and what the visitor token opens."""

from __future__ import annotations

import json
import time

import jwt

from chalicelib import clock
from chalicelib.services import tokens, visitors


def test_sign_up_returns_a_visitor_token_that_names_the_new_customer(api):
    response = api.post("/api/visitors", body={"name": "Ann", "email": "ann@example.com"})

    assert response.status_code == 201
    body = response.json_body
    assert {"visitor_id", "token", "expires_at"} <= body.keys()
    assert body["visitor_id"].startswith("v_")
    claims = jwt.decode(body["token"], tokens.signing_secret(), algorithms=["HS256"])
    assert claims["sub"] == body["visitor_id"]
    assert claims["typ"] == "visitor"
    assert claims["role"] == "visitor"
    assert clock.iso_from_epoch(claims["exp"]) == body["expires_at"]
    stored = visitors.get_visitor(body["visitor_id"])
    assert (stored.name, stored.email) == ("Ann", "ann@example.com")


def test_sign_up_without_a_body_creates_an_anonymous_visitor(api):
    response = api.post("/api/visitors")

    assert response.status_code == 201
    stored = visitors.get_visitor(response.json_body["visitor_id"])
    assert stored.name is None and stored.email is None


def test_visitor_token_lasts_thirty_days_by_default(api):
    before = time.time()
    body = api.post("/api/visitors", body={}).json_body

    claims = jwt.decode(body["token"], tokens.signing_secret(), algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 30 * 24 * 3600
    assert before - 1 <= claims["iat"] <= time.time() + 1


def test_each_sign_up_is_a_different_customer(api):
    first = api.post("/api/visitors", body={}).json_body
    second = api.post("/api/visitors", body={}).json_body

    assert first["visitor_id"] != second["visitor_id"]
    assert first["token"] != second["token"]


def test_sign_up_with_malformed_json_is_invalid_json(api):
    response = api.post("/api/visitors", raw="{name: 'Ann'")

    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_json"


def test_sign_up_with_a_malformed_email_is_a_validation_error(api):
    emails = ["not-an-email", "a@b", "two words@example.com", "@example.com", "x" * 250 + "@example.com"]

    answers = {email: api.post("/api/visitors", body={"email": email}) for email in emails}

    assert {e: (r.status_code, r.json_body["error"]) for e, r in answers.items()} == {
        e: (422, "validation_error") for e in emails}


def test_sign_up_with_a_body_of_the_wrong_shape_is_a_validation_error(api):
    bodies = {"list": ["a list"], "string": "a string", "long_name": {"name": "x" * 101}, "number_name": {"name": 42}}

    answers = {key: api.post("/api/visitors", body=body) for key, body in bodies.items()}

    assert {k: (r.status_code, r.json_body["error"]) for k, r in answers.items()} == {
        k: (422, "validation_error") for k in bodies}


def test_sign_up_body_over_64_kb_is_too_large(api):
    raw = json.dumps({"name": "Ann", "padding": "x" * (64 * 1024)})

    response = api.post("/api/visitors", raw=raw)

    assert response.status_code == 413
    assert response.json_body["error"] == "too_large"


def test_visitor_token_opens_the_routes_visitors_may_use(api, people):
    visitor = people.visitor("Ann")

    response = api.get("/api/sessions", visitor)

    assert response.status_code == 200
    assert response.json_body == {"sessions": []}


AGENT_ROUTES = [
    ("get", "/api/agents/me"),
    ("put", "/api/agents/me/status"),
    ("get", "/api/agents"),
    ("post", "/api/agents"),
    ("get", "/api/kefu/queue"),
    ("get", "/api/kefu/agents"),
    ("get", "/api/kefu/customer/v_any"),
    ("post", "/api/kefu/assign/v_any"),
    ("post", "/api/kefu/release/v_any"),
    ("post", "/api/kefu/cleanup"),
    ("post", "/api/sessions/s_any/accept"),
    ("post", "/api/sessions/s_any/transfer"),
    ("get", "/api/system/info"),
]


def test_visitor_token_is_refused_on_every_agent_route(api, people):
    visitor = people.visitor("Ann")

    answers = {f"{method} {path}": api.call(method, path, visitor, body={"status": "online"}).status_code
               for method, path in AGENT_ROUTES}

    assert answers == {f"{method} {path}": 403 for method, path in AGENT_ROUTES}


def test_visitor_cannot_assign_themselves_an_agent_through_the_kefu_routes(api, people):
    agent = people.agent(online=True)
    visitor = people.visitor("Ann")

    response = api.post(f"/api/kefu/assign/{visitor.user_id}", visitor)

    assert response.status_code == 403
    overview = api.get("/api/kefu/agents", agent).json_body["agents"]
    assert [a["active"] for a in overview] == [0]
