"""REST fixtures: the Chalice test client on empty tables, and people to call it as.

Tables are emptied item by item rather than dropped and recreated (the root ``tables`` fixture):
same clean slate, about a third of the time, which matters over a hundred REST tests.

``people`` creates agents through the service (there is no public sign-up for agents) and logs
them in through ``POST /api/auth/login``, signs visitors up through ``POST /api/visitors``, and
brings agents online the way the agent SPA does (a socket heartbeat, then ``PUT status online``).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.services import agents, assignment, chat, tokens
from tests.conftest import dynamodb_client, reset_tables
from tests.unit.conftest import no_gateway  # noqa: F401  (autouse: pushes go nowhere, as in unit tests)

PASSWORD = "correct horse battery"
_names = itertools.count(1)


@dataclass
class Caller:
    """Someone holding a token: an agent (or admin) or a visitor."""

    user_id: str
    token: str
    name: str | None = None
    username: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}

    @property
    def principal(self) -> tokens.Principal:
        return tokens.verify(self.token)


class Api:
    """Thin JSON helpers over the Chalice test client."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def call(self, method: str, path: str, caller: Caller | None = None, body: Any = None,
             raw: bytes | str | None = None, headers: dict[str, str] | None = None):
        sent = dict(caller.headers if caller else {"Content-Type": "application/json"})
        sent.update(headers or {})
        payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
        kwargs: dict[str, Any] = {"headers": sent}
        if payload is not None:
            kwargs["body"] = payload
        return getattr(self.client.http, method)(path, **kwargs)

    def get(self, path: str, caller: Caller | None = None, **kw):
        return self.call("get", path, caller, **kw)

    def post(self, path: str, caller: Caller | None = None, body: Any = None, **kw):
        return self.call("post", path, caller, body, **kw)

    def put(self, path: str, caller: Caller | None = None, body: Any = None, **kw):
        return self.call("put", path, caller, body, **kw)

    def patch(self, path: str, caller: Caller | None = None, body: Any = None, **kw):
        return self.call("patch", path, caller, body, **kw)


class People:
    """Creates the agents and visitors a test talks as."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def agent(self, username: str | None = None, *, role: str = "agent", capacity: int | None = None,
              display_name: str | None = None, online: bool = False) -> Caller:
        username = username or f"agent{next(_names)}"
        created = agents.create_agent(username, PASSWORD, display_name, role, capacity)
        caller = self.login(username)
        assert caller.user_id == created.agent_id
        if online:
            self.bring_online(caller)
        return caller

    def admin(self, username: str | None = None) -> Caller:
        return self.agent(username or f"admin{next(_names)}", role="admin")

    def login(self, username: str, password: str = PASSWORD) -> Caller:
        response = self.api.post("/api/auth/login", body={"username": username, "password": password})
        assert response.status_code == 200, response.body
        body = response.json_body
        return Caller(body["agent"]["agent_id"], body["token"], body["agent"]["display_name"], username)

    def visitor(self, name: str | None = None) -> Caller:
        response = self.api.post("/api/visitors", body={"name": name} if name else {})
        assert response.status_code == 201, response.body
        body = response.json_body
        return Caller(body["visitor_id"], body["token"], name)

    def bring_online(self, agent: Caller) -> None:
        assignment.agent_heartbeat(agent.user_id)
        response = self.api.put("/api/agents/me/status", agent, body={"status": "online"})
        assert response.status_code == 200, response.body
        assert response.json_body["status"] == "online"

    def start_session(self, visitor: Caller, topic: str | None = None) -> chat.SessionState:
        return chat.start_session(visitor.principal, topic)


@pytest.fixture
def empty_tables():
    """Every kefu table present and empty on the moto server."""
    reset_tables()
    yield dynamodb_client()


@pytest.fixture
def client(empty_tables):
    with Client(app) as test_client:
        yield test_client


@pytest.fixture
def api(client) -> Api:
    return Api(client)


@pytest.fixture
def people(api) -> People:
    return People(api)
