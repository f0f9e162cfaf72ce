"""The DynamoDB wire as the simulator reads and answers it: which items a request touches, and
answers in DynamoDB's JSON shapes (errors, cancellations, batches left unprocessed)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

TARGET = "DynamoDB_20120810."
ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
_REGION = re.compile(r"Credential=[^/]+/[^/]+/([^/]+)/")

ItemKey = tuple[Any, Any]        # (hash key, range key or None) as moto's DynamoType values
TableKey = tuple[str, ItemKey]   # the table's name and the item's key

ON_DEMAND_THROTTLE = ("Throughput exceeds the current capacity of your table or index. DynamoDB is automatically "
                      "scaling your table or index so please try again shortly. If exceptions persist, check "
                      "if you have a hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
                      "bp-partition-key-design.html.")
PROVISIONED_THROTTLE = ("The level of configured provisioned throughput for the table was exceeded. "
                        "Consider increasing your provisioning level with the UpdateTable API.")


class Tables:
    """moto's tables of the request's account and region (we run inside the server's lock)."""

    def __init__(self, environ: dict[str, Any]) -> None:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        match = _REGION.search(environ.get("HTTP_AUTHORIZATION", ""))
        self.tables: dict[str, Any] = dynamodb_backends[DEFAULT_ACCOUNT_ID][
            match.group(1) if match else "us-east-1"].tables

    def get(self, name: str | None) -> Any:
        return self.tables.get(name or "")

    def key_of(self, table_name: str | None, attrs: Any) -> TableKey | None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        table = self.get(table_name)
        if table is None or not isinstance(attrs, dict) or table.hash_key_attr not in attrs:
            return None
        range_attr = table.range_key_attr
        if range_attr and range_attr not in attrs:
            return None
        try:
            return table_name, (DynamoType(attrs[table.hash_key_attr]),
                                DynamoType(attrs[range_attr]) if range_attr else None)
        except (TypeError, ValueError, AttributeError):
            return None  # malformed: moto answers the validation error

    def item(self, key: TableKey) -> Any:
        table = self.get(key[0])
        if table is None:
            return None
        hash_key, range_key = key[1]
        entry = table.items.get(hash_key)
        if entry is None or range_key is None:
            return entry if range_key is None else None
        return entry.get(range_key)


def _spec_attrs(spec: dict[str, Any]) -> Any:
    return spec.get("Item") if "Item" in spec else spec.get("Key")


def touched(op: str, body: dict[str, Any], tables: Tables, *, changed_only: bool = False) -> list[TableKey]:
    """Every item a write (or TransactGetItems) names by key; ``changed_only`` leaves out the
    ConditionCheck entries of a transaction, which read an item without writing it."""
    found: list[TableKey | None] = []
    if op in ("PutItem", "UpdateItem", "DeleteItem"):
        found.append(tables.key_of(body.get("TableName"), body.get("Item") if op == "PutItem" else body.get("Key")))
    elif op == "BatchWriteItem":
        for table, requests in (body.get("RequestItems") or {}).items():
            for request in requests:
                if "PutRequest" in request:
                    found.append(tables.key_of(table, request["PutRequest"].get("Item")))
                elif "DeleteRequest" in request:
                    found.append(tables.key_of(table, request["DeleteRequest"].get("Key")))
    elif op in ("TransactWriteItems", "TransactGetItems"):
        for kind, spec in transact_entries(body):
            if not (changed_only and kind == "ConditionCheck"):
                found.append(tables.key_of(spec.get("TableName"), _spec_attrs(spec)))
    return [key for key in found if key is not None]


def transact_entries(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    entries = []
    for entry in body.get("TransactItems") or []:
        if isinstance(entry, dict) and len(entry) == 1:
            (kind, spec), = entry.items()
            entries.append((kind, spec if isinstance(spec, dict) else {}))
    return entries


def transact_keys(body: dict[str, Any], tables: Tables) -> list[TableKey | None]:
    """The key of each entry of a transaction, in order (None where it names no item we know)."""
    return [tables.key_of(spec.get("TableName"), _spec_attrs(spec)) for _, spec in transact_entries(body)]


def fingerprint(body: dict[str, Any]) -> str:
    """A transaction's parameters apart from its token: what a retry must repeat exactly."""
    return json.dumps({k: v for k, v in body.items() if k != "ClientRequestToken"}, sort_keys=True)


def json_response(start_response: Any, status: str, document: dict[str, Any]) -> list[bytes]:
    payload = json.dumps(document).encode()
    start_response(status, [("Content-Type", "application/x-amz-json-1.0"),
                            ("Content-Length", str(len(payload))),
                            ("x-amzn-RequestId", f"kefu-sim-{time.monotonic_ns()}")])
    return [payload]


def error(start_response: Any, status: str, code: str, message: str, **extra: Any) -> list[bytes]:
    prefix = "com.amazon.coral.service#" if code == "InternalServerError" else ERROR_PREFIX
    return json_response(start_response, status, {"__type": prefix + code, "message": message, **extra})


def cancelled(start_response: Any, reasons: list[dict[str, str]]) -> list[bytes]:
    """TransactionCanceledException with one reason per entry, in the request's order."""
    codes = ", ".join(reason["Code"] for reason in reasons)
    return json_response(start_response, "400 Bad Request", {
        "__type": ERROR_PREFIX + "TransactionCanceledException",
        "Message": f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
        "CancellationReasons": reasons,
    })


def throttle_reason(table: Any) -> dict[str, str]:
    """The cancellation reason of a throttled transaction entry: on-demand tables report
    ``ThrottlingError``, provisioned ones ``ProvisionedThroughputExceeded`` (AWS's API reference)."""
    if table is not None and getattr(table, "billing_mode", None) == "PROVISIONED":
        return {"Code": "ProvisionedThroughputExceeded", "Message": PROVISIONED_THROTTLE}
    return {"Code": "ThrottlingError", "Message": ON_DEMAND_THROTTLE}
