"""Schemathesis against the running local stack: every operation of ``GET /api/openapi.json``,
with generated valid and invalid input, as an admin, an agent, a visitor and without a token.

No answer may be a server error, carry a status the document does not list, or break the schema of
its status (body, content type, headers). Examples are bounded (``CONTRACT_EXAMPLES`` per mode and
caller, default 4) so that the whole run stays around a minute on two cores; raise it to dig.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app import app
from tests.e2e.protocol_helpers import admin_token, create_agent

EXAMPLES = int(os.environ.get("CONTRACT_EXAMPLES", "4"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
OPERATIONS = [(path, method) for path, methods in sorted(app.routes.items()) for method in sorted(methods)]


@pytest.fixture(scope="module")
def api_schema(stack) -> Any:
    """The document as the stack serves it, loaded the way any schemathesis user would."""
    return schemathesis.openapi.from_url(f"{stack.rest_url}/api/openapi.json")


@pytest.fixture(scope="module")
def people(stack) -> dict[str, Any]:
    """An admin, an agent and a visitor, made once for the module (tests elsewhere on this worker
    may empty the tables meanwhile: ``callers`` makes them again then)."""
    return {}


def _make_people(stack) -> dict[str, str | None]:
    admin = admin_token(stack)
    agent = create_agent(stack, admin, "Contract")
    visitor = requests.post(f"{stack.rest_url}/api/visitors", json={"name": "Contract"}, timeout=10)
    assert visitor.status_code == 201, visitor.text
    return {"admin": admin, "agent": agent.token, "visitor": visitor.json()["token"], "nobody": None}


@pytest.fixture
def callers(stack, people) -> dict[str, str | None]:
    """admin, agent and visitor tokens of users that exist, and no token at all."""
    if people:
        alive = requests.get(f"{stack.rest_url}/api/sessions",
                             headers={"Authorization": f"Bearer {people['visitor']}"}, timeout=10)
        agent = requests.get(f"{stack.rest_url}/api/agents/me",
                             headers={"Authorization": f"Bearer {people['agent']}"}, timeout=10)
        if alive.status_code != 200 or agent.status_code != 200:
            people.clear()
    if not people:
        people.update(_make_people(stack))
    return people


def _calls(stack, operation: Any, mode: GenerationMode, token: str | None, found: list[str]) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    checks = CHECKS

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(base_url=stack.rest_url, headers=headers, timeout=30)
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except (Failure, FailureGroup) as failed:
            for failure in getattr(failed, "exceptions", (failed,)):
                found.append(f"{mode.value} {case.method} {case.path} -> {response.status_code}: "
                             f"{failure.title}: {str(failure.message).strip()[:300]}")

    try:
        run()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE  # nothing to get wrong: no parameter, no body


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_every_answer_keeps_the_published_contract(stack, api_schema, callers, path, method):
    operation = api_schema[path][method]
    found: list[str] = []
    for who, token in callers.items():
        if method == "OPTIONS" and token:
            continue  # a preflight is the same with or without a token
        for mode in (GenerationMode.POSITIVE,) if method == "OPTIONS" else tuple(GenerationMode):
            before = len(found)
            _calls(stack, operation, mode, token, found)
            found[before:] = [f"[{who}] {line}" for line in found[before:]]

    assert not found, "\n".join(dict.fromkeys(found))
