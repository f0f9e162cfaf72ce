"""Table definitions derived from the models: for local/test creation and for CloudFormation."""

from __future__ import annotations

from typing import Any

from chalicelib.models import ALL_MODELS
from chalicelib.models.base import KefuModel


def _key_schema(keys: list[dict[str, str]]) -> list[dict[str, str]]:
    """HASH first, then RANGE, as DynamoDB requires."""
    return [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]}
            for k in sorted(keys, key=lambda k: k["KeyType"] != "HASH")]


def table_spec(model: type[KefuModel]) -> dict[str, Any]:
    """The CreateTable-shaped description of ``model`` (keys, GSIs, billing, TTL attribute)."""
    schema = model._get_schema()
    spec: dict[str, Any] = {
        "TableName": model.Meta.table_name,
        "AttributeDefinitions": sorted(
            ({"AttributeName": a["AttributeName"], "AttributeType": a["AttributeType"]}
             for a in schema["attribute_definitions"]),
            key=lambda a: a["AttributeName"],
        ),
        "KeySchema": _key_schema(schema["key_schema"]),
        "BillingMode": "PAY_PER_REQUEST",
    }
    gsis = []
    for index in schema.get("global_secondary_indexes", []):
        gsis.append({
            "IndexName": index["index_name"],
            "KeySchema": _key_schema(index["key_schema"]),
            "Projection": {"ProjectionType": index["projection"]["ProjectionType"]},
        })
    if gsis:
        spec["GlobalSecondaryIndexes"] = sorted(gsis, key=lambda g: g["IndexName"])
    ttl = getattr(model.Meta, "ttl_attribute", None)
    if ttl:
        spec["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
    return spec


def all_table_specs() -> dict[str, dict[str, Any]]:
    """Config key -> table spec, for every table kefu uses."""
    return {model.Meta.config_key: table_spec(model) for model in ALL_MODELS}


def create_all_tables(client: Any) -> list[str]:
    """Create every missing table with a boto3 DynamoDB ``client``; returns the names created."""
    existing = set(client.list_tables().get("TableNames", []))
    created = []
    for spec in all_table_specs().values():
        if spec["TableName"] in existing:
            continue
        request = {k: v for k, v in spec.items() if k != "TimeToLiveSpecification"}
        client.create_table(**request)
        client.get_waiter("table_exists").wait(TableName=spec["TableName"],
                                               WaiterConfig={"Delay": 0.05, "MaxAttempts": 200})
        if "TimeToLiveSpecification" in spec:
            client.update_time_to_live(TableName=spec["TableName"],
                                       TimeToLiveSpecification=spec["TimeToLiveSpecification"])
        created.append(spec["TableName"])
    return created
