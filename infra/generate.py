"""The CloudFormation kefu merges into ``chalice package`` output, and the IAM policy files.

Everything here is derived from the PynamoDB models (``all_table_specs``), ``.chalice/config.json``
and the template Chalice generated, so tables, policies and the packaged template cannot disagree.
The committed artifacts (``infra/tables.json``, ``.chalice/policy-<stage>.json``) are written by this
module; ``tests/unit/test_table_drift.py`` fails when they no longer match the models.

    python -m infra.generate --tables --policies        # rewrite the committed artifacts
    python -m infra.generate --stage dev --chalice-template build/base/sam.json --out merge.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.config import TABLE_KEYS
from chalicelib.models.tables import all_table_specs
from infra import hardening

REPO_ROOT = Path(__file__).resolve().parents[1]
CHALICE_CONFIG = REPO_ROOT / ".chalice" / "config.json"
TABLES_FILE = REPO_ROOT / "infra" / "tables.json"

# Logical ids and types of Chalice 1.34's SAM output (checked with `chalice package`).
REST_API = "RestAPI"
WEBSOCKET_API = "WebsocketAPI"
FUNCTION_TYPE = "AWS::Serverless::Function"
WEBSOCKET_STAGE_TYPE = "AWS::ApiGatewayV2::Stage"

# Item-level actions only: TransactWriteItems/TransactGetItems are authorised per item action, and
# no request path may Scan.
DYNAMODB_ACTIONS = (
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
)
CONNECTION_METHODS = ("POST", "GET", "DELETE")  # post, inspect, close a socket via @connections
LOG_ACTIONS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")

# Tables of these stages go with the stack; any other stage keeps its data when the stack is deleted.
DISPOSABLE_STAGES = frozenset({"dev", "test"})

# What API Gateway answers before kefu's code runs; the local stack emulates the same mapping.
GATEWAY_RESPONSES: dict[str, tuple[int, dict[str, str]]] = {
    "UNAUTHORIZED": (401, {"error": "unauthorized", "message": "missing token"}),
    "ACCESS_DENIED": (401, {"error": "invalid_token",
                            "message": "token is invalid, expired or not accepted here"}),
    "MISSING_AUTHENTICATION_TOKEN": (404, {"error": "not_found", "message": "no such route"}),
}

# Headers on every gateway response, as on every answer of the app (SAM quotes static values).
GATEWAY_RESPONSE_HEADERS = {"X-Content-Type-Options": "nosniff"}

# A gateway response runs before any code, so it cannot check KEFU_CORS_ORIGINS: it echoes the
# caller's Origin. It carries only the error body above, never data, and a browser still sends no
# token unless the preflight (answered by the app, which does check the list) allowed it.
GATEWAY_CORS_HEADERS = {
    "Access-Control-Allow-Origin": "method.request.header.Origin",
    "Vary": "'Origin'",
}

Json = dict[str, Any]


@dataclass(frozen=True)
class StageSettings:
    """What one Chalice stage fixes for infrastructure: its table names, secrets, API stage, the
    attachments bucket (name prefix, CORS origins, retention) and the mail sender."""

    app_name: str
    stage: str
    table_names: dict[str, str]
    jwt_secret_parameter: str
    api_gateway_stage: str
    table_prefix: str = ""
    identity_secret_parameter: str | None = None
    cors_origins: tuple[str, ...] = ()
    message_retention_days: int = 365
    mail_from: str | None = None

    @property
    def bucket_name(self) -> str:
        """The attachments bucket, made unique per account by CloudFormation (``Fn::Sub``)."""
        return f"{self.table_prefix}-attachments-${{AWS::AccountId}}"


def table_names(env: Mapping[str, str]) -> dict[str, str]:
    """Config key -> table name, by the rule ``chalicelib.config`` applies to the Lambda environment.

    Mirrored rather than imported because ``config`` reads ``os.environ`` once per process; a test
    checks that both give the same names.
    """
    stage = env.get("KEFU_STAGE", "dev")
    prefix = env.get("KEFU_TABLE_PREFIX", f"kefu-{stage}")
    return {key: env.get(f"KEFU_TABLE_{key.upper()}", f"{prefix}-{key.replace('_', '-')}")
            for key in TABLE_KEYS}


def load_chalice_config(config_path: Path = CHALICE_CONFIG) -> Json:
    return json.loads(config_path.read_text())


def configured_stages(config_path: Path = CHALICE_CONFIG) -> list[str]:
    return sorted(load_chalice_config(config_path)["stages"])


def stage_settings(stage: str, config_path: Path = CHALICE_CONFIG) -> StageSettings:
    """The settings of ``stage`` as its Lambda functions will see them (global env, then stage env)."""
    config = load_chalice_config(config_path)
    if stage not in config.get("stages", {}):
        raise ValueError(f"stage {stage!r} is not in {config_path}")
    stage_config = config["stages"][stage]
    env = {**config.get("environment_variables", {}), **stage_config.get("environment_variables", {})}
    parameter = env.get("KEFU_JWT_SECRET_PARAMETER", "")
    if not parameter.startswith("/"):
        raise ValueError(f"stage {stage!r}: KEFU_JWT_SECRET_PARAMETER must name an SSM parameter "
                         f"(/kefu/{stage}/jwt-secret), got {parameter!r}")
    identity_parameter = env.get("KEFU_IDENTITY_SECRET_PARAMETER") or None
    if identity_parameter is not None and not identity_parameter.startswith("/"):
        raise ValueError(f"stage {stage!r}: KEFU_IDENTITY_SECRET_PARAMETER must name an SSM parameter, "
                         f"got {identity_parameter!r}")
    return StageSettings(
        app_name=config["app_name"],
        stage=stage,
        table_names=table_names(env),
        jwt_secret_parameter=parameter,
        api_gateway_stage=stage_config.get("api_gateway_stage", config.get("api_gateway_stage", "api")),
        table_prefix=env.get("KEFU_TABLE_PREFIX", f"kefu-{env.get('KEFU_STAGE', 'dev')}"),
        identity_secret_parameter=identity_parameter,
        cors_origins=tuple(o.strip().rstrip("/") for o in env.get("KEFU_CORS_ORIGINS", "").split(",") if o.strip()),
        message_retention_days=int(env.get("KEFU_MESSAGE_RETENTION_DAYS") or 365),
        mail_from=env.get("KEFU_MAIL_FROM") or None,
    )


# -- tables ------------------------------------------------------------------------------------


def tables_document() -> dict[str, Json]:
    """Config key -> CreateTable spec without its stage-specific name: what ``infra/tables.json`` holds."""
    return {key: {k: v for k, v in spec.items() if k != "TableName"}
            for key, spec in sorted(all_table_specs().items())}


def _indexes_by_name(spec: Json) -> dict[str, Json]:
    return {index["IndexName"]: index for index in spec.get("GlobalSecondaryIndexes", [])}


def table_drift(expected: Mapping[str, Json], actual: Mapping[str, Json]) -> list[str]:
    """Readable differences between two ``tables_document``-shaped mappings (empty when equal)."""
    problems = [f"{key}: table missing" for key in sorted(set(expected) - set(actual))]
    problems += [f"{key}: table not declared by any model" for key in sorted(set(actual) - set(expected))]
    for key in sorted(set(expected) & set(actual)):
        want, got = expected[key], actual[key]
        for field in sorted((set(want) | set(got)) - {"GlobalSecondaryIndexes"}):
            if want.get(field) != got.get(field):
                problems.append(f"{key}: {field} is {got.get(field)!r}, models say {want.get(field)!r}")
        want_indexes, got_indexes = _indexes_by_name(want), _indexes_by_name(got)
        for name in sorted(set(want_indexes) | set(got_indexes)):
            if name not in got_indexes:
                problems.append(f"{key}: index {name} missing")
            elif name not in want_indexes:
                problems.append(f"{key}: index {name} not declared by the model")
            elif want_indexes[name] != got_indexes[name]:
                problems.append(f"{key}: index {name} is {got_indexes[name]!r}, "
                                f"model says {want_indexes[name]!r}")
    return problems


def table_logical_id(key: str) -> str:
    return "".join(part.capitalize() for part in key.split("_")) + "Table"


def table_resources(settings: StageSettings) -> dict[str, Json]:
    """One on-demand table per model, named for the stage, with TTL and point-in-time recovery."""
    policy = "Delete" if settings.stage in DISPOSABLE_STAGES else "Retain"
    resources = {}
    for key, spec in tables_document().items():
        resources[table_logical_id(key)] = {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": policy,
            "UpdateReplacePolicy": policy,
            "Properties": {
                "TableName": settings.table_names[key],
                **spec,
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            },
        }
    return resources


# -- IAM ---------------------------------------------------------------------------------------

ArnFn = Callable[[str, str], Any]


def _file_arn(service: str, resource: str) -> str:
    """A plain IAM ARN for the policy file: any Region and account (the file cannot know them)."""
    return f"arn:aws:{service}:*:*:{resource}"


def _template_arn(service: str, resource: str) -> Json:
    """An ARN pinned by CloudFormation to the stack's partition, Region and account."""
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"}


def _file_bucket_arn(settings: StageSettings, path: str = "") -> str:
    """The attachments bucket for the policy file, which cannot know the account id."""
    return f"arn:aws:s3:::{settings.table_prefix}-attachments-*{path}"


def _template_bucket_arn(settings: StageSettings, path: str = "") -> Json:
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{settings.bucket_name}{path}"}


BucketArnFn = Callable[[StageSettings, str], Any]
# What the functions do with attachments: presign uploads (the upload is authorised as PutObject),
# check and read them (HeadObject is GetObject), delete a refused one. ListBucket only makes a
# HeadObject of a missing key answer 404 instead of 403.
ATTACHMENT_ACTIONS = ("s3:PutObject", "s3:GetObject", "s3:DeleteObject")
ATTACHMENT_PREFIX = "/attachments/*"


def _widget_statements(settings: StageSettings, arn: ArnFn, bucket_arn: BucketArnFn) -> list[Json]:
    sender = {"Condition": {"StringEquals": {"ses:FromAddress": settings.mail_from}}} if settings.mail_from else {}
    identity: list[Json] = []
    if settings.identity_secret_parameter:
        secret = arn("ssm", f"parameter/{settings.identity_secret_parameter.lstrip('/')}")
        identity = [
            {"Sid": "IdentitySecret", "Effect": "Allow", "Action": "ssm:GetParameter", "Resource": secret},
            {"Sid": "IdentitySecretKey", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": arn("kms", "key/*"),
             "Condition": {"StringLike": {"kms:ViaService": "ssm.*.amazonaws.com",
                                          "kms:EncryptionContext:PARAMETER_ARN": secret}}},
        ]
    return [
        *identity,
        {"Sid": "Attachments", "Effect": "Allow", "Action": list(ATTACHMENT_ACTIONS),
         "Resource": bucket_arn(settings, ATTACHMENT_PREFIX)},
        {"Sid": "AttachmentsBucket", "Effect": "Allow", "Action": "s3:ListBucket",
         "Resource": bucket_arn(settings, "")},
        {"Sid": "Mail", "Effect": "Allow", "Action": "ses:SendEmail", "Resource": arn("ses", "identity/*"), **sender},
    ]


@dataclass(frozen=True)
class Needs:
    """What one function's code touches: the tables it reads or writes, whether it posts to sockets."""

    tables: tuple[str, ...] = TABLE_KEYS
    pushes: bool = True
    scheduled: bool = False  # invoked by EventBridge: failed events go to the dead-letter queue
    files_and_mail: bool = True  # the attachments bucket, SES and the identity secret


def function_needs(handler: str) -> Needs:
    """What the function whose Lambda handler is ``handler`` (``module.function``) needs, as its
    module declares it (``TABLES_USED``, or ``TABLES_USED_BY`` for one function of a module that
    holds several: the WebSocket routes, the sweeps; ``PUSHES_TO_SOCKETS``). A function declared
    nowhere (``app.app``: every REST route) gets every table. The local stack denies a function
    any other table, as IAM does (``devstack.iam``).
    ``tests/unit/test_least_privilege.py`` runs the narrowed functions and checks the declaration."""
    import importlib

    module_name, _, function = handler.rpartition(".")
    module = importlib.import_module(module_name)
    by_function = getattr(module, "TABLES_USED_BY", {})
    declared = by_function.get(function, getattr(module, "TABLES_USED", None))
    tables = tuple(TABLE_KEYS if declared is None else declared)
    unknown = set(tables) - set(TABLE_KEYS)
    if unknown:
        raise ValueError(f"{module.__name__}.TABLES_USED names no table: {sorted(unknown)}")
    narrowed = hasattr(module, "TABLES_USED")
    return Needs(tuple(key for key in TABLE_KEYS if key in tables), bool(getattr(module, "PUSHES_TO_SOCKETS", True)),
                 files_and_mail=bool(getattr(module, "USES_FILES_AND_MAIL", not narrowed)))


def _policy(settings: StageSettings, arn: ArnFn, websocket_api: str, function_prefix: str,
            needs: Needs = Needs(), bucket_arn: BucketArnFn = _file_bucket_arn) -> Json:
    tables = tables_document()
    table_arns: list[Any] = []
    for key in needs.tables:
        name = settings.table_names[key]
        table_arns.append(arn("dynamodb", f"table/{name}"))
        if tables[key].get("GlobalSecondaryIndexes"):
            table_arns.append(arn("dynamodb", f"table/{name}/index/*"))
    parameter = settings.jwt_secret_parameter.lstrip("/")
    log_group = f"log-group:/aws/lambda/{function_prefix}*"
    connections = [{
        "Sid": "WebSocketConnections",
        "Effect": "Allow",
        "Action": "execute-api:ManageConnections",
        "Resource": [
            arn("execute-api", f"{websocket_api}/{settings.api_gateway_stage}/{method}/@connections/*")
            for method in CONNECTION_METHODS
        ],
    }] if needs.pushes else []
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Tables", "Effect": "Allow", "Action": list(DYNAMODB_ACTIONS), "Resource": table_arns},
            *connections,
            {"Sid": "JwtSecret", "Effect": "Allow", "Action": "ssm:GetParameter",
             "Resource": arn("ssm", f"parameter/{parameter}")},
            {
                # Needed only when the parameter uses a customer managed key (aws/ssm grants itself);
                # the conditions limit it to decrypting this one parameter through SSM.
                "Sid": "JwtSecretKey",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": arn("kms", "key/*"),
                "Condition": {"StringLike": {
                    "kms:ViaService": "ssm.*.amazonaws.com",
                    "kms:EncryptionContext:PARAMETER_ARN": arn("ssm", f"parameter/{parameter}"),
                }},
            },
            {"Sid": "Logs", "Effect": "Allow", "Action": list(LOG_ACTIONS),
             "Resource": [arn("logs", log_group), arn("logs", f"{log_group}:log-stream:*")]},
            *(_widget_statements(settings, arn, bucket_arn) if needs.files_and_mail else []),
        ],
    }


def policy_document(settings: StageSettings) -> Json:
    """The committed ``.chalice/policy-<stage>.json``: plain IAM, so ``chalice deploy`` accepts it too.

    It cannot know the WebSocket API id, so ``@connections`` is narrowed to the stage and methods;
    log groups follow Chalice's function names (``<app>-<stage>-<handler>``).
    """
    return _policy(settings, _file_arn, "*", f"{settings.app_name}-{settings.stage}-")


def template_policy_document(settings: StageSettings, needs: Needs = Needs()) -> Json:
    """The same statements for one packaged role, pinned to this stack's WebSocket API, Region,
    account and function names (CloudFormation names functions ``<stack>-<LogicalId>-<suffix>``),
    narrowed to what its function ``needs``; with X-Ray, the dead-letter queue of scheduled
    functions (the optional KMS key is ``hardening.key_policy``, a resource of its own)."""
    policy = _policy(settings, _template_arn, f"${{{WEBSOCKET_API}}}", "${AWS::StackName}-", needs,
                     _template_bucket_arn)
    policy["Statement"] += hardening.role_statements(
        needs.scheduled, {"Fn::GetAtt": [hardening.DEAD_LETTERS, "Arn"]})
    return policy


# -- the merge fragment ------------------------------------------------------------------------


def resources_of_type(template: Json, resource_type: str) -> list[str]:
    return sorted(k for k, v in template.get("Resources", {}).items() if v.get("Type") == resource_type)


def function_roles(template: Json) -> dict[str, str]:
    """Function logical id -> the logical id of the role Chalice made for it (when it made one)."""
    resources = template.get("Resources", {})
    roles = {}
    for function in resources_of_type(template, FUNCTION_TYPE):
        role = resources[function].get("Properties", {}).get("Role")
        if isinstance(role, dict) and "Fn::GetAtt" in role:
            role_id = role["Fn::GetAtt"][0]
            if resources.get(role_id, {}).get("Type") == "AWS::IAM::Role":
                roles[function] = role_id
    return roles


def role_needs(template: Json) -> dict[str, Needs]:
    """Role logical id -> what its functions need (Chalice makes one role per function; a shared
    role gets the union)."""
    found: dict[str, Needs] = {}
    for function, role in function_roles(template).items():
        resource = template["Resources"][function]
        needs = function_needs(resource["Properties"]["Handler"])
        needs = Needs(needs.tables, needs.pushes, hardening.is_scheduled(resource), needs.files_and_mail)
        before = found.get(role)
        if before is not None:
            needs = Needs(tuple(k for k in TABLE_KEYS if k in set(before.tables) | set(needs.tables)),
                          before.pushes or needs.pushes, before.scheduled or needs.scheduled,
                          before.files_and_mail or needs.files_and_mail)
        found[role] = needs
    return found


def websocket_stage(template: Json) -> str:
    """The stage name Chalice gave the WebSocket API (it reuses ``api_gateway_stage``)."""
    resources = template.get("Resources", {})
    for stage_id in resources_of_type(template, WEBSOCKET_STAGE_TYPE):
        properties = resources[stage_id]["Properties"]
        if properties.get("ApiId") == {"Ref": WEBSOCKET_API}:
            return str(properties["StageName"])
    raise ValueError(f"no {WEBSOCKET_STAGE_TYPE} for {WEBSOCKET_API} in the Chalice template")


ATTACHMENTS_BUCKET = "AttachmentsBucket"
ATTACHMENTS_BUCKET_POLICY = "AttachmentsBucketPolicy"


def attachments_bucket(settings: StageSettings) -> dict[str, Json]:
    """The bucket attachments are uploaded to: encrypted, never public, TLS only, CORS for the
    origins the API admits (browsers POST to it directly), objects expiring with the messages."""
    policy = "Delete" if settings.stage in DISPOSABLE_STAGES else "Retain"
    properties: Json = {
        "BucketName": {"Fn::Sub": settings.bucket_name},
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]},
        "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                           "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        "VersioningConfiguration": {"Status": "Suspended"},
        "LifecycleConfiguration": {"Rules": [{
            "Id": "message-retention", "Status": "Enabled", "Prefix": "attachments/",
            "ExpirationInDays": settings.message_retention_days,
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]},
    }
    if settings.cors_origins:
        properties["CorsConfiguration"] = {"CorsRules": [{
            "AllowedOrigins": list(settings.cors_origins), "AllowedMethods": ["GET", "HEAD", "POST"],
            "AllowedHeaders": ["*"], "ExposedHeaders": ["ETag"], "MaxAge": 600}]}
    bucket_arn = _template_bucket_arn(settings)
    objects_arn = _template_bucket_arn(settings, "/*")
    return {
        ATTACHMENTS_BUCKET: {"Type": "AWS::S3::Bucket", "DeletionPolicy": policy, "UpdateReplacePolicy": policy,
                             **hardening.attachments_bucket_metadata(), "Properties": properties},
        ATTACHMENTS_BUCKET_POLICY: {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "Bucket": {"Ref": ATTACHMENTS_BUCKET},
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": [bucket_arn, objects_arn],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}}},
    }


def websocket_environment(stage: str) -> dict[str, Json]:
    """The variables that let any function (REST, jobs, not only ``on_ws_*``) push to sockets."""
    host = f"${{{WEBSOCKET_API}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}"
    return {
        "KEFU_WS_MANAGEMENT_ENDPOINT": {"Fn::Sub": f"https://{host}/{stage}"},
        "KEFU_WEBSOCKET_URL": {"Fn::Sub": f"wss://{host}/{stage}"},
    }


def gateway_responses() -> Json:
    """SAM ``GatewayResponses`` for the REST API.

    Set on the ``AWS::Serverless::Api`` rather than as ``AWS::ApiGateway::GatewayResponse``
    resources: SAM writes them into the OpenAPI body, whose hash names the deployment, so they are
    deployed with the API and survive every later body import (separate resources are neither).
    Each carries CORS headers, or a browser on the widget's site could not read why it was refused.
    """
    return {
        response_type: {"StatusCode": str(status),
                        "ResponseParameters": {"Headers": {
                            **{name: f"'{value}'" for name, value in GATEWAY_RESPONSE_HEADERS.items()},
                            **GATEWAY_CORS_HEADERS}},
                        "ResponseTemplates": {"application/json": json.dumps(body)}}
        for response_type, (status, body) in GATEWAY_RESPONSES.items()
    }


def _require(template: Json, logical_id: str, resource_type: str) -> None:
    found = template.get("Resources", {}).get(logical_id, {}).get("Type")
    if found != resource_type:
        raise ValueError(f"expected {logical_id} of type {resource_type} in the Chalice template, "
                         f"found {found!r}: did Chalice change its logical ids?")


def build_fragment(settings: StageSettings, chalice_template: Json) -> Json:
    """The template to pass to ``chalice package --merge-template`` for ``chalice_template``.

    Chalice deep-merges dictionaries by key and replaces lists, so the fragment adds environment
    variables next to Chalice's own, and replaces each role's policy list with the pinned policy.
    """
    _require(chalice_template, REST_API, "AWS::Serverless::Api")
    _require(chalice_template, WEBSOCKET_API, "AWS::ApiGatewayV2::Api")
    resources: Json = {**table_resources(settings), **hardening.log_resources(), **hardening.dead_letter_queue()}
    for table in resources_of_type({"Resources": resources}, "AWS::DynamoDB::Table"):
        hardened = hardening.table()
        resources[table]["Metadata"] = hardened["Metadata"]
        resources[table]["Properties"].update(hardened["Properties"])
    rest = hardening.rest_api()
    rest["Properties"]["GatewayResponses"] = gateway_responses()
    resources[REST_API] = rest
    for stage_id in resources_of_type(chalice_template, WEBSOCKET_STAGE_TYPE):
        resources[stage_id] = hardening.websocket_stage()
    resources.update(attachments_bucket(settings))
    environment = {**websocket_environment(websocket_stage(chalice_template)),
                   "KEFU_ATTACHMENTS_BUCKET": {"Ref": ATTACHMENTS_BUCKET}}
    for function in resources_of_type(chalice_template, FUNCTION_TYPE):
        hardened = hardening.function(hardening.is_scheduled(chalice_template["Resources"][function]))
        hardened["Properties"]["Environment"] = {"Variables": environment}
        resources[function] = hardened
    for role, needs in sorted(role_needs(chalice_template).items()):
        policy = template_policy_document(settings, needs)
        policies = chalice_template["Resources"][role]["Properties"].get("Policies", [])
        name = policies[0]["PolicyName"] if policies else f"{role}Policy"
        resources[role] = {"Properties": {"Policies": [{"PolicyName": name, "PolicyDocument": policy}]}}
    resources.update(hardening.key_policy(sorted(set(function_roles(chalice_template).values()))))
    parameters, conditions = hardening.parameters()
    return {"Parameters": parameters, "Conditions": conditions, "Resources": resources}


# -- command line ------------------------------------------------------------------------------


def write_json(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def policy_path(stage: str, config_path: Path = CHALICE_CONFIG) -> Path:
    """Where Chalice reads the stage's policy (``iam_policy_file``, relative to ``.chalice/``)."""
    stage_config = load_chalice_config(config_path)["stages"][stage]
    return config_path.parent / stage_config.get("iam_policy_file", f"policy-{stage}.json")


def write_committed(tables: bool, policies: bool, config_path: Path = CHALICE_CONFIG) -> list[Path]:
    """Rewrite the committed artifacts; returns the files written."""
    written = []
    if tables:
        write_json(TABLES_FILE, tables_document())
        written.append(TABLES_FILE)
    if policies:
        for stage in configured_stages(config_path):
            path = policy_path(stage, config_path)
            write_json(path, policy_document(stage_settings(stage, config_path)))
            written.append(path)
    return written


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", action="store_true", help="rewrite infra/tables.json")
    parser.add_argument("--policies", action="store_true",
                        help="rewrite .chalice/policy-<stage>.json for every stage")
    parser.add_argument("--stage", help="write the merge fragment for this stage")
    parser.add_argument("--chalice-template", type=Path,
                        help="sam.json from `chalice package` without a merge template")
    parser.add_argument("--out", type=Path, help="where to write the merge fragment")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not (args.tables or args.policies or args.stage):
        parser.error("nothing to do: give --tables, --policies or --stage")
    for path in write_committed(args.tables, args.policies):
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    if args.stage:
        if not (args.chalice_template and args.out):
            parser.error("--stage needs --chalice-template and --out")
        fragment = build_fragment(stage_settings(args.stage),
                                  json.loads(args.chalice_template.read_text()))
        write_json(args.out, fragment)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
