"""``POST /_kefu/tables/reset``: drop and recreate tables in one request, for test suites.

Each test of the suite starts from empty tables; doing it through the API cost 50-odd requests (a
delete, a create, a waiter's describe and a TTL update per table) and a new boto3 client, about a
second and a half per test on a busy machine. This endpoint takes the same CreateTable requests
(with their ``TimeToLiveSpecification``) and applies the same operations inside the backend, in
one go under the request lock: each goes through the simulator and the journal exactly as if it
had come over the wire, so what the simulator keeps per table (lagging replicas, TTL watch,
conflict windows) is forgotten as for any DeleteTable.

A table this endpoint created from the very same request, and whose schema no request changed
since, is emptied in place instead (its items dropped, the simulator told as for a DeleteTable):
a dozen deletes and creates, each answered by moto's model-driven serializer, were a third of the
backend's CPU in the API tests. Not when the backend keeps a journal: a replay must see the
operations themselves.

Body: ``{"tables": [CreateTable request, ...]}``; answer ``{"reset": [table names]}``, or the
first failing operation's error with its status.
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.test import EnvironBuilder

from devstack.moto_speedups import drop_all_items

RESET_PATH = "/_kefu/tables/reset"
_TARGET = "DynamoDB_20120810."
# Operations that cannot change a table's schema; any other DynamoDB operation (UpdateTable,
# UpdateTimeToLive, a CreateTable of someone else...) makes the next reset rebuild every table.
_SCHEMA_KEEPING = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
    "TransactGetItems", "TransactWriteItems", "ExecuteStatement", "BatchExecuteStatement",
    "ExecuteTransaction", "DescribeTable", "ListTables", "DescribeTimeToLive", "ListTagsOfResource",
    "DescribeContinuousBackups", "DescribeEndpoints", "DescribeLimits",
})


class TableReset:
    """WSGI layer: ``RESET_PATH`` here, everything else to ``app``. Run it under the server's
    request lock, above the simulator."""

    def __init__(self, app: Any, region: str = "us-east-1", journaled: bool = False) -> None:
        self._app = app
        self._region = region
        self._journaled = journaled
        # table name -> (the request it was created from, the table object made): while no
        # request changed a schema since, a reset with the same request may empty it in place.
        self._made: dict[str, tuple[str, Any]] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").rstrip("/") != RESET_PATH or environ.get("REQUEST_METHOD") != "POST":
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if self._made and target and target[len(_TARGET):] not in _SCHEMA_KEEPING:
                self._made.clear()
            return self._app(environ, start_response)
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        specs = json.loads(raw or b"{}").get("tables") or []
        tables = self._tables()
        existing = set(self._call("ListTables", {})[1].get("TableNames", []))
        for spec in specs:
            name = spec["TableName"]
            request = json.dumps(spec, sort_keys=True)
            made = self._made.get(name)
            if made is not None and made[0] == request and tables.get(name) is made[1] and not self._journaled:
                drop_all_items(made[1])
                self._app.table_emptied(name)
                continue
            self._made.pop(name, None)
            create = {k: v for k, v in spec.items() if k != "TimeToLiveSpecification"}
            steps = [("DeleteTable", {"TableName": name})] if name in existing else []
            steps.append(("CreateTable", create))
            if "TimeToLiveSpecification" in spec:
                steps.append(("UpdateTimeToLive", {"TableName": name,
                                                   "TimeToLiveSpecification": spec["TimeToLiveSpecification"]}))
            for op, body in steps:
                status, answer = self._call(op, body)
                if not status.startswith("2"):
                    return _json(start_response, status, {"error": f"{op} {name}", "answer": answer})
            if tables.get(name) is not None:
                self._made[name] = (request, tables.get(name))
        return _json(start_response, "200 OK", {"reset": [spec["TableName"] for spec in specs]})

    def _tables(self) -> dict[str, Any]:
        """moto's tables of the region the reset's requests go to (we run under the server's lock)."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        return dynamodb_backends[DEFAULT_ACCOUNT_ID][self._region].tables

    def _call(self, op: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        environ = EnvironBuilder(method="POST", path="/", data=json.dumps(body), headers={
            "X-Amz-Target": _TARGET + op,
            "Content-Type": "application/x-amz-json-1.0",
            # moto picks the service and region from the credential scope; it checks no signature.
            "Authorization": (f"AWS4-HMAC-SHA256 Credential=reset/20200101/{self._region}/dynamodb/"
                              "aws4_request, SignedHeaders=host, Signature=0"),
        }).get_environ()
        status: list[str] = []
        answer = b"".join(self._app(environ, lambda code, headers, exc_info=None: status.append(code)))
        return (status[0] if status else "500 Internal Server Error"), json.loads(answer or b"{}")


def _json(start_response: Any, status: str, document: dict[str, Any]) -> list[bytes]:
    payload = json.dumps(document).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]
