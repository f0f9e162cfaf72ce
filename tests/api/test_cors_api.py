"""CORS: browsers on the configured origins may call the REST API; others may not read it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chalice.test import Client

from app import app
from chalicelib.config import reload_config


@pytest.fixture
def cors_client(monkeypatch: pytest.MonkeyPatch, tables) -> Iterator[Client]:
    monkeypatch.setenv("KEFU_CORS_ORIGINS", "https://shop.example, http://localhost:*")
    reload_config()
    with Client(app) as client:
        yield client
    monkeypatch.undo()  # the value before, if any (a running local stack sets one)
    reload_config()


def test_preflight_from_an_allowed_origin_admits_the_bearer_token_without_one(cors_client):
    response = cors_client.http.request(
        "OPTIONS", "/api/visitors",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "POST" in response.headers["Access-Control-Allow-Methods"].split(",")
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]


def test_preflight_on_a_route_with_a_path_parameter_and_an_authorizer(cors_client):
    response = cors_client.http.request(
        "OPTIONS", "/api/sessions/abc/messages",
        headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "GET"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert set(response.headers["Access-Control-Allow-Methods"].split(",")) == {"GET", "POST", "OPTIONS"}


def test_responses_and_errors_name_the_allowed_origin(cors_client):
    signed_up = cors_client.http.post("/api/visitors", body=b"{}", headers={
        "Origin": "https://shop.example", "Content-Type": "application/json"})
    assert signed_up.status_code == 201
    assert signed_up.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    refused = cors_client.http.post("/api/auth/login", body=b"{}", headers={
        "Origin": "http://localhost:8000", "Content-Type": "application/json"})
    assert refused.status_code == 422
    assert refused.headers["Access-Control-Allow-Origin"] == "http://localhost:8000"


@pytest.mark.parametrize("origin", ["https://evil.example", "https://shop.example.evil.example",
                                    "http://localhost.evil.example:80", "http://localhost:80x"])
def test_other_origins_get_no_cors_grant(cors_client, origin):
    response = cors_client.http.request(
        "OPTIONS", "/api/visitors", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in response.headers
    answered = cors_client.http.get("/api/system/health", headers={"Origin": origin})
    assert "Access-Control-Allow-Origin" not in answered.headers
    assert answered.headers["Vary"] == "Origin"
