"""``make package`` for real: ``chalice package`` twice (plain, then merged), then cfn-lint.

One packaging run serves every test here (~10 s once Chalice has cached the Linux wheels in
``.chalice/deployments/``; the first run downloads them).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chalicelib.config import TABLE_KEYS
from infra import generate, package

pytestmark = pytest.mark.timeout(240)

STAGE = "dev"


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return package.package(STAGE, build_dir=tmp_path_factory.mktemp("build"))


@pytest.fixture(scope="module")
def template(packaged: Path) -> dict[str, Any]:
    return json.loads(packaged.read_text())


def of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def test_package_writes_the_template_and_the_code(packaged: Path):
    assert (packaged.parent / "deployment.zip").stat().st_size > 0


def test_the_code_leaves_out_what_the_lambda_runtime_provides_and_stays_under_10_mb(packaged: Path):
    code = packaged.parent / "deployment.zip"
    with zipfile.ZipFile(code) as shipped:
        tops = {name.split("/", 1)[0] for name in shipped.namelist()}

    assert not {top for top in tops if top.split("-", 1)[0] in ("boto3", "botocore", "s3transfer")}
    assert {"chalicelib", "pynamodb", "pydantic_core", "app.py"} <= tops  # what the runtime lacks stays
    assert code.stat().st_size <= 10 * 1024 * 1024


def test_every_model_table_is_deployed_under_the_stage_name(template):
    tables = of_type(template, "AWS::DynamoDB::Table").values()

    assert sorted(t["Properties"]["TableName"] for t in tables) == sorted(
        f"kefu-{STAGE}-{key.replace('_', '-')}" for key in TABLE_KEYS)
    committed = json.loads(generate.TABLES_FILE.read_text())
    for table in tables:
        properties = table["Properties"]
        key = properties["TableName"].removeprefix(f"kefu-{STAGE}-").replace("-", "_")
        assert {k: v for k, v in properties.items()
                if k not in ("TableName", "PointInTimeRecoverySpecification")} == committed[key]
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_gateway_errors_answer_like_the_local_stack(template):
    from devstack.gateway_responses import GATEWAY_RESPONSES as LOCAL_GATEWAY_RESPONSES

    responses = template["Resources"][generate.REST_API]["Properties"]["GatewayResponses"]

    answered = {kind: (int(r["StatusCode"]), json.loads(r["ResponseTemplates"]["application/json"]))
                for kind, r in responses.items()}
    assert answered == {
        "UNAUTHORIZED": (401, {"error": "unauthorized", "message": "missing token"}),
        "ACCESS_DENIED": (401, {"error": "invalid_token",
                                "message": "token is invalid, expired or not accepted here"}),
        "MISSING_AUTHENTICATION_TOKEN": (404, {"error": "not_found", "message": "no such route"}),
    }
    emulated = {r.response_type: (r.status, {"error": r.error, "message": r.message})
                for r in LOCAL_GATEWAY_RESPONSES}
    assert answered == emulated
    from devstack.gateway_responses import HEADERS

    assert HEADERS == {"X-Content-Type-Options": "nosniff"}
    # SAM's GatewayResponses take ResponseParameters.Headers as {name: value} (SAM writes them as
    # gatewayresponse.header.<name>), static values in single quotes. Besides the CORS headers
    # (checked below), every response carries exactly the headers the local stack adds.
    for response in responses.values():
        headers = response["ResponseParameters"]["Headers"]
        assert {name: value for name, value in headers.items() if name not in generate.GATEWAY_CORS_HEADERS} \
            == {name: f"'{value}'" for name, value in HEADERS.items()}


def test_browsers_can_read_gateway_errors_and_preflight_every_path(template):
    responses = template["Resources"][generate.REST_API]["Properties"]["GatewayResponses"]
    for response in responses.values():
        headers = response["ResponseParameters"]["Headers"]
        assert headers["Access-Control-Allow-Origin"] == "method.request.header.Origin"
    paths = template["Resources"][generate.REST_API]["Properties"]["DefinitionBody"]["paths"]
    for path, methods in paths.items():
        assert "options" in methods, f"{path} answers no CORS preflight"
        assert "security" not in methods["options"], f"the preflight of {path} needs a token"


def test_every_function_can_push_and_keeps_chalice_environment(template):
    config = generate.load_chalice_config()
    chalice_env = {**config["environment_variables"], **config["stages"][STAGE]["environment_variables"]}
    functions = of_type(template, generate.FUNCTION_TYPE)

    assert {"APIHandler", "WebsocketConnect", "WebsocketMessage", "WebsocketDisconnect",
            "AgentAuth", "AnyAuth"} <= set(functions)
    for name, function in functions.items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["KEFU_STAGE"] == STAGE, name
        assert {k: variables.get(k) for k in chalice_env} == chalice_env, name
        assert variables["KEFU_WS_MANAGEMENT_ENDPOINT"] == {
            "Fn::Sub": "https://${WebsocketAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api"}, name
        assert variables["KEFU_WEBSOCKET_URL"] == {
            "Fn::Sub": "wss://${WebsocketAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api"}, name


def test_every_role_holds_the_stage_policy_pinned_to_this_stack(template):
    expected = generate.template_policy_document(generate.stage_settings(STAGE))
    roles = generate.function_roles(template)

    assert set(roles) == set(of_type(template, generate.FUNCTION_TYPE))
    for role in set(roles.values()):
        policies = template["Resources"][role]["Properties"]["Policies"]
        assert [p["PolicyDocument"] for p in policies] == [expected], role
    connections = next(s for s in expected["Statement"] if s["Sid"] == "WebSocketConnections")
    assert all("${WebsocketAPI}/api/" in arn["Fn::Sub"] for arn in connections["Resource"])


def test_stack_outputs_tell_clients_where_to_connect(template):
    outputs = template["Outputs"]
    assert "${RestAPI}" in outputs["EndpointURL"]["Value"]["Fn::Sub"]
    assert outputs["WebsocketConnectEndpointURL"]["Value"]["Fn::Sub"].startswith("wss://${WebsocketAPI}")


def test_packaged_template_has_no_cfn_lint_errors(packaged: Path):
    errors = package.lint_errors(package.lint(packaged))
    assert errors == [], "\n".join(str(e) for e in errors)
