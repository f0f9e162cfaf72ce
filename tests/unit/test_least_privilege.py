"""Each function's declared needs (``TABLES_USED`` / ``PUSHES_TO_SOCKETS`` in its module, read by
``infra.generate.function_needs``) cover what its code really does: the narrowed functions are run
here as Lambda runs them, and every DynamoDB table they touch is recorded from botocore's own
events. The packaged template's policies are checked against the same needs in test_package.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.config import TABLE_KEYS, get_config
from chalicelib.services import agents, tokens, visitors
from chalicelib.services.tokens import Principal
from devstack.iam import tables_in
from infra import generate

AUTHORIZERS = ("chalicelib.api.auth_guard.agent_auth", "chalicelib.api.auth_guard.any_auth")
DAILY_REPORT = "chalicelib.jobs.reports.daily_report"


@contextmanager
def tables_touched() -> Iterator[set[str]]:
    """The config keys of every table a PynamoDB model call names while the block runs."""
    from chalicelib.models import ALL_MODELS
    from chalicelib.models.base import transaction_connection

    by_name = {name: key for key, name in get_config().table_names.items()}
    touched: set[str] = set()

    def record(params: dict[str, Any], **_: Any) -> None:
        touched.update(by_name.get(name, name) for name in tables_in(params))

    clients = {id(c): c for c in [m._get_connection().connection.client for m in ALL_MODELS]
               + [transaction_connection().client]}
    for client in clients.values():
        client.meta.events.register("provide-client-params.dynamodb", record)
    try:
        yield touched
    finally:
        for client in clients.values():
            client.meta.events.unregister("provide-client-params.dynamodb", record)


def authorizer_event(token: str) -> dict[str, Any]:
    return {"type": "TOKEN", "authorizationToken": f"Bearer {token}",
            "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc/api/GET/api/sessions"}


def test_the_authorizers_need_only_the_user_tables_and_post_to_no_socket(tables):
    import app  # noqa: F401  (registers the blueprints the authorizers live in)
    from chalicelib.api import auth_guard
    from devstack.lambda_runtime import LambdaContext

    agent = agents.create_agent("leastpriv", "a long password", "L", "agent")
    agent_token, _ = tokens.issue(Principal(agent.agent_id, "agent", "agent", "L"))
    visitor_token = visitors.sign_up("V", None)["token"]
    context = LambdaContext(function_name="kefu-test-any_auth")

    with tables_touched() as touched:
        for authorizer in (auth_guard.agent_auth, auth_guard.any_auth):
            for token in (agent_token, visitor_token, "not-a-token"):
                authorizer(authorizer_event(token), context)

    assert touched, "the authorizers were not run against the tables"
    for handler in AUTHORIZERS:
        needs = generate.function_needs(handler)
        assert touched <= set(needs.tables), f"{handler} touches {sorted(touched - set(needs.tables))}"
        assert not needs.pushes


def test_the_daily_report_needs_only_what_it_declares(tables):
    from chalicelib.jobs import reports
    from chalicelib.services import chat
    from devstack.lambda_runtime import LambdaContext

    visitor = visitors.sign_up("V", None)
    chat.start_session(tokens.verify(visitor["token"]), "billing")
    event = {"id": "evt-1", "time": datetime.now(UTC).isoformat(), "detail-type": "Scheduled Event",
             "source": "aws.events", "resources": [], "detail": {}, "account": "123456789012",
             "region": "us-east-1", "version": "0"}

    with tables_touched() as touched:
        reports.daily_report(event, LambdaContext(function_name="kefu-test-daily_report"))

    needs = generate.function_needs(DAILY_REPORT)
    assert touched and touched <= set(needs.tables), sorted(touched)
    assert "reports" in needs.tables  # the Powertools idempotency records (its own boto3 client)
    assert not needs.pushes


def test_functions_that_declare_nothing_get_every_table_and_sockets():
    needs = generate.function_needs("app.app")  # the REST API: every route

    assert needs.tables == TABLE_KEYS
    assert needs.pushes


def test_the_websocket_functions_and_the_sweeps_get_the_chat_core_and_only_connect_spends_tickets():
    core = set(TABLE_KEYS) - {"reports", "canned_responses", "ws_tickets"}
    for handler in ("app.ws_message", "app.ws_disconnect", "chalicelib.jobs.schedules.assignment_sweep",
                    "chalicelib.jobs.schedules.connection_sweep"):
        needs = generate.function_needs(handler)
        assert set(needs.tables) == core, handler
        assert needs.pushes, handler
    assert set(generate.function_needs("app.ws_connect").tables) == core | {"ws_tickets"}


def test_the_local_stack_refuses_a_table_outside_the_acting_functions_role_as_iam_does(tables):
    from chalicelib.models import AgentModel, SessionModel
    from devstack import iam

    agent = agents.create_agent("iamcheck", "a long password", "I", "agent")
    iam.enforce()
    with iam.acting_as("chalicelib.api.auth_guard.agent_auth"):
        assert AgentModel.get(agent.agent_id, consistent_read=True).agent_id == agent.agent_id  # in its role
        with pytest.raises(Exception) as refused:
            SessionModel.get("s_any", consistent_read=True)  # not in its role
    assert "AccessDeniedException" in repr(refused.value.__cause__ or refused.value)
    assert "sessions" in str(refused.value.__cause__ or refused.value)
    with pytest.raises(SessionModel.DoesNotExist):
        SessionModel.get("s_any", consistent_read=True)  # no function acting: nothing is checked


def test_a_declaration_naming_no_table_is_refused(monkeypatch: pytest.MonkeyPatch):
    from chalicelib.api import auth_guard

    monkeypatch.setattr(auth_guard, "TABLES_USED", ("agents", "agentz"))
    with pytest.raises(ValueError, match="agentz"):
        generate.function_needs("chalicelib.api.auth_guard.agent_auth")
