"""What a production deployment adds to Chalice's template, and why each scanner finding it does not
fix is accepted: access logs on both API stages, X-Ray tracing, a dead-letter queue and a reserved
concurrency of one for the scheduled functions, KMS keys as an option, and checkov skip comments
with their reasons (``make package`` runs checkov and fails on any finding without one).

Merged into the fragment by ``infra.generate.build_fragment``.
"""

from __future__ import annotations

import json
from typing import Any

Json = dict[str, Any]

KMS_PARAMETER = "KmsKeyArn"
KMS_CONDITION = "UseKmsKey"
REST_LOGS = "RestApiAccessLogs"
WEBSOCKET_LOGS = "WebsocketApiAccessLogs"
DEAD_LETTERS = "ScheduledJobsDeadLetterQueue"
APIGW_LOGS_ROLE = "ApiGatewayCloudWatchRole"
APIGW_ACCOUNT = "ApiGatewayAccount"
LOG_RETENTION_DAYS = 365

# One JSON line per request: enough to follow a caller without logging tokens or bodies.
REST_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "time": "$context.requestTime",
    "method": "$context.httpMethod", "path": "$context.resourcePath", "status": "$context.status",
    "latencyMs": "$context.responseLatency", "error": "$context.error.message",
    "authorizerError": "$context.authorizer.error"}, separators=(",", ":"))
WEBSOCKET_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "time": "$context.requestTime",
    "route": "$context.routeKey", "event": "$context.eventType", "connectionId": "$context.connectionId",
    "status": "$context.status", "error": "$context.error.message",
    "integrationError": "$context.integrationErrorMessage"}, separators=(",", ":"))

# checkov findings accepted by design, each with its reason (shown in checkov's report).
WHY_NO_VPC = ("kefu talks only to AWS APIs (DynamoDB, API Gateway, SSM); a VPC would add NAT or "
              "endpoint costs and cold-start latency and protect nothing")
WHY_ENV_NOT_ENCRYPTED = ("the environment holds table names and URLs, no secret (the JWT secret is read "
                         "from SSM); set the KmsKeyArn parameter to encrypt it with your key anyway")
WHY_NO_DLQ_SYNC = ("invoked synchronously (API Gateway, authorizer, WebSocket route): the caller gets the "
                   "error, a dead-letter queue only ever receives asynchronous events")
WHY_NO_RESERVED = ("serves customers: a reserved concurrency would refuse them before the on-demand "
                   "tables are troubled; the account's concurrency limit and API Gateway throttling bound it")
WHY_TABLE_KEY = ("encrypted at rest with the AWS managed key by default; set the KmsKeyArn parameter to "
                 "use a customer managed key")
WHY_NO_CACHE = ("every answer is for one caller (bearer token) and changes at once (chat state): a "
                "stage cache would serve stale or other users' data")
WHY_LOGS_KEY = ("CloudWatch Logs encrypts every log group; set the KmsKeyArn parameter to use your key "
                "(its key policy must allow logs.<region>.amazonaws.com)")

WHY_NO_VERSIONING = ("attachments are erased with their messages (bulk delete, retention): versioning would "
                     "keep a customer's erased file as a noncurrent version; each upload is written once under "
                     "a fresh key, so there is nothing to roll back")
WHY_NO_BUCKET_LOGS = ("files are reached only through short-lived presigned URLs the API issues, and the API "
                      "logs each issue (who, which session); S3 server access logs would need a second bucket "
                      "that itself needs logging: enable CloudTrail S3 data events for per-object records")


def attachments_bucket_metadata() -> Json:
    """The attachments bucket's accepted checkov findings (``generate.attachments_bucket``)."""
    return {"Metadata": _skip(("CKV_AWS_21", WHY_NO_VERSIONING), ("CKV_AWS_18", WHY_NO_BUCKET_LOGS))}


def _skip(*checks: tuple[str, str]) -> Json:
    return {"checkov": {"skip": [{"id": check, "comment": reason} for check, reason in checks]}}


def _if_key(value: Any) -> Json:
    return {"Fn::If": [KMS_CONDITION, value, {"Ref": "AWS::NoValue"}]}


def parameters() -> tuple[Json, Json]:
    """The optional customer managed key, and the condition that it was given."""
    return ({KMS_PARAMETER: {"Type": "String", "Default": "",
                             "Description": "ARN of a KMS key for tables, logs, the dead-letter queue and "
                                            "the functions' environment (empty: AWS managed keys)"}},
            {KMS_CONDITION: {"Fn::Not": [{"Fn::Equals": [{"Ref": KMS_PARAMETER}, ""]}]}})


def log_resources() -> Json:
    """The access log groups, and the account-level role API Gateway writes them with."""
    groups = {name: {"Type": "AWS::Logs::LogGroup",
                     "Metadata": _skip(("CKV_AWS_158", WHY_LOGS_KEY)),
                     "Properties": {"RetentionInDays": LOG_RETENTION_DAYS,
                                    "KmsKeyId": _if_key({"Ref": KMS_PARAMETER})}}
              for name in (REST_LOGS, WEBSOCKET_LOGS)}
    role = {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
        "ManagedPolicyArns": [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                                          "AmazonAPIGatewayPushToCloudWatchLogs"}]}}
    account = {"Type": "AWS::ApiGateway::Account",
               "Properties": {"CloudWatchRoleArn": {"Fn::GetAtt": [APIGW_LOGS_ROLE, "Arn"]}}}
    return {**groups, APIGW_LOGS_ROLE: role, APIGW_ACCOUNT: account}


def rest_api() -> Json:
    """Access logs and X-Ray on the REST stage (merged into Chalice's ``AWS::Serverless::Api``)."""
    return {"Metadata": _skip(("CKV_AWS_120", WHY_NO_CACHE)), "Properties": {
        "TracingEnabled": True,
        "AccessLogSetting": {"DestinationArn": {"Fn::GetAtt": [REST_LOGS, "Arn"]}, "Format": REST_LOG_FORMAT}}}


def websocket_stage() -> Json:
    return {"DependsOn": [APIGW_ACCOUNT], "Properties": {"AccessLogSettings": {
        "DestinationArn": {"Fn::GetAtt": [WEBSOCKET_LOGS, "Arn"]}, "Format": WEBSOCKET_LOG_FORMAT}}}


def dead_letter_queue() -> Json:
    return {DEAD_LETTERS: {"Type": "AWS::SQS::Queue",
                           "Properties": {"MessageRetentionPeriod": 1209600,
                                          "SqsManagedSseEnabled": {"Fn::If": [KMS_CONDITION, False, True]},
                                          "KmsMasterKeyId": _if_key({"Ref": KMS_PARAMETER})}}}


def is_scheduled(function: Json) -> bool:
    return any(event.get("Type") == "Schedule"
               for event in function.get("Properties", {}).get("Events", {}).values())


def function(scheduled: bool) -> Json:
    """Tracing for every function; for the scheduled ones (invoked asynchronously by EventBridge) a
    dead-letter queue for the events that failed every retry, and a reserved concurrency of one: a
    sweep never runs beside itself, so a slow one cannot pile scans onto the tables."""
    properties: Json = {"Tracing": "Active", "KmsKeyArn": _if_key({"Ref": KMS_PARAMETER})}
    skips = [("CKV_AWS_117", WHY_NO_VPC), ("CKV_AWS_173", WHY_ENV_NOT_ENCRYPTED)]
    if scheduled:
        properties["DeadLetterQueue"] = {"Type": "SQS", "TargetArn": {"Fn::GetAtt": [DEAD_LETTERS, "Arn"]}}
        properties["ReservedConcurrentExecutions"] = 1
    else:
        skips += [("CKV_AWS_116", WHY_NO_DLQ_SYNC), ("CKV_AWS_115", WHY_NO_RESERVED)]
    return {"Metadata": _skip(*skips), "Properties": properties}


def table() -> Json:
    """Encryption at rest with KMS: the AWS managed key, or the customer managed one if given."""
    return {"Metadata": _skip(("CKV_AWS_119", WHY_TABLE_KEY)), "Properties": {"SSESpecification": {
        "SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": _if_key({"Ref": KMS_PARAMETER})}}}


def role_statements(scheduled: bool, arn_of_queue: Any) -> list[Json]:
    """What tracing (X-Ray takes no resource) and the dead-letter queue need of a function's role."""
    statements: list[Json] = [{"Sid": "Tracing", "Effect": "Allow",
                               "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": "*"}]
    if scheduled:
        statements.append({"Sid": "DeadLetters", "Effect": "Allow", "Action": "sqs:SendMessage",
                           "Resource": arn_of_queue})
    return statements


def key_policy(roles: list[str]) -> Json:
    """With ``KmsKeyArn`` given, the functions may use that key (their environment, the tables, the
    dead-letter queue); a resource of its own, present only then, so the roles' policies stay plain."""
    return {"CustomerManagedKeyPolicy": {"Type": "AWS::IAM::Policy", "Condition": KMS_CONDITION, "Properties": {
        "PolicyName": "CustomerManagedKey",
        "Roles": [{"Ref": role} for role in roles],
        "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Sid": "CustomerManagedKey", "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            "Resource": {"Ref": KMS_PARAMETER}}]}}}}
