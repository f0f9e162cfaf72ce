"""The models are the one declaration of every table: the committed CloudFormation input
(``infra/tables.json``), the generated table resources and the IAM policy files must follow them.

When one of these fails after a model change, run ``python -m infra.generate --tables --policies``
and commit the result (CloudFormation adds or removes at most one GSI per table per update).
"""

from __future__ import annotations

import copy
import json
import os

import pytest
from pynamodb.attributes import UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.config import TABLE_KEYS, get_config
from chalicelib.models import SessionModel
from chalicelib.models.tables import all_table_specs, table_spec
from infra import generate

REGENERATE = "run `python -m infra.generate --tables --policies` and commit the result"
STAGES = generate.configured_stages()


def committed_tables() -> dict:
    return json.loads(generate.TABLES_FILE.read_text())


def test_every_configured_table_has_exactly_one_model():
    assert sorted(all_table_specs()) == sorted(TABLE_KEYS)


def test_committed_tables_match_the_models():
    drift = generate.table_drift(generate.tables_document(), committed_tables())
    assert drift == [], f"{REGENERATE}:\n" + "\n".join(drift)


class SessionsByTopic(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_topic"
        projection = AllProjection()

    topic = UnicodeAttribute(hash_key=True)


class SessionWithNewIndex(SessionModel):
    """``SessionModel`` as it would be after someone added a GSI and forgot to regenerate."""

    Meta = SessionModel.Meta
    by_topic = SessionsByTopic()


def test_a_gsi_added_to_a_model_without_regenerating_is_reported():
    models = generate.tables_document()
    models["sessions"] = {k: v for k, v in table_spec(SessionWithNewIndex).items() if k != "TableName"}

    drift = generate.table_drift(models, committed_tables())

    assert "sessions: index by_topic missing" in drift
    assert any(line.startswith("sessions: AttributeDefinitions") for line in drift)


@pytest.mark.parametrize("mutate, expected", [
    (lambda t: t["connections"].pop("TimeToLiveSpecification"), "connections: TimeToLiveSpecification"),
    (lambda t: t["messages"]["KeySchema"].pop(), "messages: KeySchema"),
    (lambda t: t["agents"].update(BillingMode="PROVISIONED"), "agents: BillingMode"),
    (lambda t: t["assignments"]["GlobalSecondaryIndexes"][0].update(
        Projection={"ProjectionType": "KEYS_ONLY"}), "assignments: index by_agent"),
    (lambda t: t.pop("reports"), "reports: table missing"),
])
def test_any_difference_in_a_table_is_reported(mutate, expected):
    mutated = copy.deepcopy(generate.tables_document())
    mutate(mutated)

    drift = generate.table_drift(generate.tables_document(), mutated)

    assert any(line.startswith(expected) for line in drift), drift


@pytest.mark.parametrize("stage", STAGES)
def test_table_resources_are_the_models_named_for_the_stage(stage):
    settings = generate.stage_settings(stage)
    resources = generate.table_resources(settings)

    declared = {}
    for resource in resources.values():
        properties = dict(resource["Properties"])
        assert resource["Type"] == "AWS::DynamoDB::Table"
        assert properties.pop("PointInTimeRecoverySpecification") == {"PointInTimeRecoveryEnabled": True}
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        declared[properties.pop("TableName")] = properties

    expected = {f"kefu-{stage}-{key.replace('_', '-')}": spec
                for key, spec in committed_tables().items()}
    assert declared == expected


def test_table_names_follow_the_rule_the_lambda_config_applies():
    assert generate.table_names(os.environ) == get_config().table_names


@pytest.mark.parametrize("stage", STAGES)
def test_committed_policy_matches_the_generator(stage):
    committed = json.loads(generate.policy_path(stage).read_text())
    assert committed == generate.policy_document(generate.stage_settings(stage)), REGENERATE


@pytest.mark.parametrize("stage", STAGES)
def test_policy_reaches_only_this_stages_tables_and_secret(stage):
    policy = json.loads(generate.policy_path(stage).read_text())
    statements = {s["Sid"]: s for s in policy["Statement"]}

    tables = statements["Tables"]
    assert "dynamodb:Scan" not in tables["Action"]
    assert all(not action.endswith("*") for action in tables["Action"])
    names = {f"kefu-{stage}-{key.replace('_', '-')}" for key in TABLE_KEYS}
    assert {arn.split(":table/")[1].split("/")[0] for arn in tables["Resource"]} == names

    assert statements["JwtSecret"]["Resource"] == f"arn:aws:ssm:*:*:parameter/kefu/{stage}/jwt-secret"
    assert all("/api/" in arn and arn.endswith("/@connections/*")
               for arn in statements["WebSocketConnections"]["Resource"])
    assert all(f"/aws/lambda/kefu-{stage}-" in arn for arn in statements["Logs"]["Resource"])
