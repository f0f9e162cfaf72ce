"""The embedded DynamoDB (devstack/moto_backend.py with devstack/moto_speedups.py) answers every
data-plane request as plain moto does: the same requests, sent to the suite's server and to a
moto server of moto's own in another process, get the same answers (request ids aside), binary
values, sets, maps, lists, projections, index Queries, paging, batches and refusals included."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import MOTO_ENDPOINT, configure_sim

ITEMS = [
    {"pk": {"S": f"p{n}"}, "group": {"S": "g1" if n % 3 else "g2"}, "n": {"N": str(n)},
     "blob": {"B": bytes([n, 0, 255])}, "blobs": {"BS": [b"a", bytes([n + 1])]},
     "tags": {"SS": ["x", f"t{n}"]}, "nums": {"NS": ["1", str(n + 2)]},
     "doc": {"M": {"name": {"S": f"name {n}"}, "inner": {"M": {"deep": {"L": [{"N": "1"}, {"S": "two"}]}}},
                   "raw": {"B": b"\x00\x01"}}},
     "list": {"L": [{"S": "a"}, {"N": "2.50"}, {"BOOL": True}, {"NULL": True}, {"M": {}}]},
     "flag": {"BOOL": n % 2 == 0}, "nothing": {"NULL": True}, "text": {"S": "é ✓ 客服 \"quoted\" <RequestId>"}}
    for n in range(7)
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def plain_moto() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def _unordered_sets(value: Any) -> Any:
    """Sets in a canonical order: a set's members have none (moto's follows Python's hashing)."""
    if isinstance(value, dict):
        return {k: sorted(v) if k in ("SS", "NS", "BS") and isinstance(v, list) else _unordered_sets(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_unordered_sets(v) for v in value]
    return value


def _client(endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="eu-west-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def _script(ddb: Any, table: str) -> list[Any]:
    """Every answer of a fixed run of requests, without its metadata (or the error it gave)."""
    answers: list[Any] = []

    def ask(operation: str, **params: Any) -> None:
        try:
            answer = getattr(ddb, operation)(**params)
            answer.pop("ResponseMetadata")
            answers.append((operation, _unordered_sets(answer)))
        except ClientError as e:
            answers.append((operation, e.response["Error"]["Code"], e.response["Error"].get("Message"),
                            e.response["ResponseMetadata"]["HTTPStatusCode"],
                            _unordered_sets(e.response.get("CancellationReasons")),
                            _unordered_sets(e.response.get("Item"))))

    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "group", "AttributeType": "S"},
                                           {"AttributeName": "n", "AttributeType": "N"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     GlobalSecondaryIndexes=[
                         {"IndexName": "by_group", "Projection": {"ProjectionType": "ALL"},
                          "KeySchema": [{"AttributeName": "group", "KeyType": "HASH"},
                                        {"AttributeName": "n", "KeyType": "RANGE"}]},
                         {"IndexName": "keys", "Projection": {"ProjectionType": "KEYS_ONLY"},
                          "KeySchema": [{"AttributeName": "group", "KeyType": "HASH"}]}])
    for item in ITEMS:
        ask("put_item", TableName=table, Item=item)
    ask("put_item", TableName=table, Item=ITEMS[0], ReturnValues="ALL_OLD")
    # without binary values: these take the embedded server's own request set-up
    plain = {"pk": {"S": "plain"}, "group": {"S": "g1"}, "n": {"N": "100"}, "tags": {"SS": ["a", "b"]},
             "doc": {"M": {"a": {"L": [{"N": "1"}, {"M": {"b": {"NULL": True}}}]}}}, "text": {"S": "plain text"}}
    ask("put_item", TableName=table, Item=plain, ConditionExpression="attribute_not_exists(pk)")
    ask("put_item", TableName=table, Item=plain, ConditionExpression="attribute_not_exists(pk)",
        ReturnValuesOnConditionCheckFailure="ALL_OLD")
    ask("update_item", TableName=table, Key={"pk": {"S": "plain"}}, ReturnValues="UPDATED_OLD",
        UpdateExpression="SET #d.a[0] = :one, n = n + :one ADD tags :t REMOVE #txt",
        ExpressionAttributeNames={"#d": "doc", "#txt": "text"},
        ExpressionAttributeValues={":one": {"N": "1"}, ":t": {"SS": ["c"]}})
    ask("update_item", TableName=table, Key={"pk": {"S": "plain"}}, UpdateExpression="SET n = :v",
        ExpressionAttributeValues={":v": {"S": "x"}, ":unused": {"S": "y"}})
    ask("get_item", TableName=table, Key={"pk": {"S": "plain"}, "extra": {"S": "x"}})
    ask("get_item", TableName=table, Key={"pk": {"S": "p1"}})
    ask("get_item", TableName=table, Key={"pk": {"S": "p1"}}, ConsistentRead=True,
        ProjectionExpression="#d.inner, blob, tags", ExpressionAttributeNames={"#d": "doc"})
    ask("get_item", TableName=table, Key={"pk": {"S": "missing"}}, ReturnConsumedCapacity="TOTAL")
    ask("update_item", TableName=table, Key={"pk": {"S": "p2"}}, ReturnValues="ALL_NEW",
        UpdateExpression="SET #d.#nm = :v, #l = list_append(#l, :more), blob = :b ADD nums :ns REMOVE nothing",
        ExpressionAttributeNames={"#d": "doc", "#nm": "name", "#l": "list"},
        ExpressionAttributeValues={":v": {"S": "renamed"}, ":more": {"L": [{"B": b"\x07"}]},
                                   ":b": {"B": b"\xfe"}, ":ns": {"NS": ["99"]}})
    ask("update_item", TableName=table, Key={"pk": {"S": "p3"}}, UpdateExpression="SET n = :n",
        ConditionExpression="n = :wrong", ExpressionAttributeValues={":n": {"N": "1"}, ":wrong": {"N": "-1"}},
        ReturnValuesOnConditionCheckFailure="ALL_OLD")
    ask("query", TableName=table, IndexName="by_group", KeyConditionExpression="#g = :g",
        ExpressionAttributeNames={"#g": "group"}, ExpressionAttributeValues={":g": {"S": "g1"}},
        ReturnConsumedCapacity="INDEXES")
    ask("query", TableName=table, IndexName="by_group", KeyConditionExpression="#g = :g AND n > :n",
        FilterExpression="flag = :t", ProjectionExpression="pk, doc.#nm, blobs",
        ExpressionAttributeNames={"#g": "group", "#nm": "name"},
        ExpressionAttributeValues={":g": {"S": "g1"}, ":n": {"N": "1"}, ":t": {"BOOL": True}},
        ScanIndexForward=False)
    ask("query", TableName=table, IndexName="by_group", KeyConditionExpression="#g = :g", Limit=2,
        ExpressionAttributeNames={"#g": "group"}, ExpressionAttributeValues={":g": {"S": "g1"}})
    ask("query", TableName=table, IndexName="keys", KeyConditionExpression="#g = :g",
        ExpressionAttributeNames={"#g": "group"}, ExpressionAttributeValues={":g": {"S": "g2"}})
    ask("query", TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p4"}})
    ask("query", TableName=table, IndexName="by_group", KeyConditionExpression="#g = :g", Select="COUNT",
        ExpressionAttributeNames={"#g": "group"}, ExpressionAttributeValues={":g": {"S": "g1"}})
    ask("batch_get_item", RequestItems={table: {"Keys": [{"pk": {"S": "p5"}}, {"pk": {"S": "p6"}}],
                                                "ConsistentRead": True}})
    ask("transact_write_items", TransactItems=[
        {"Update": {"TableName": table, "Key": {"pk": {"S": "p1"}}, "UpdateExpression": "SET n = :n",
                    "ExpressionAttributeValues": {":n": {"N": "50"}}}},
        {"ConditionCheck": {"TableName": table, "Key": {"pk": {"S": "p2"}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}])
    ask("transact_write_items", TransactItems=[
        {"Put": {"TableName": table, "Item": {"pk": {"S": "new"}, "blob": {"B": b"\x01"}},
                 "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Delete": {"TableName": table, "Key": {"pk": {"S": "p0"}}}}])
    ask("transact_get_items", TransactItems=[{"Get": {"TableName": table, "Key": {"pk": {"S": "new"}}}},
                                             {"Get": {"TableName": table, "Key": {"pk": {"S": "p0"}}}}])
    ask("delete_item", TableName=table, Key={"pk": {"S": "p6"}}, ReturnValues="ALL_OLD")
    ask("get_item", TableName=table, Key={"pk": {"S": "p1"}}, ProjectionExpression="#missing",
        ExpressionAttributeNames={"#missing": "nope", "#unused": "x"})
    ask("put_item", TableName=table, Item={"pk": {"S": ""}})
    ask("query", TableName=table, IndexName="nope", KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p4"}})
    scan = ddb.scan(TableName=table, ConsistentRead=True)
    answers.append(("scan", _unordered_sets(sorted(scan["Items"], key=lambda item: item["pk"]["S"])), scan["Count"]))
    ddb.delete_table(TableName=table)
    return answers


def test_the_embedded_backend_answers_every_data_plane_request_as_plain_moto_does(plain_moto: str) -> None:
    configure_sim("off")
    table = f"fidelity-{uuid.uuid4().hex[:8]}"
    ours, theirs = _script(_client(MOTO_ENDPOINT), table), _script(_client(plain_moto), table)
    assert len(ours) == len(theirs)
    for mine, moto_answer in zip(ours, theirs, strict=True):
        assert mine == moto_answer


def test_every_answer_carries_a_request_id_of_its_own() -> None:
    configure_sim("off")
    ddb = _client(MOTO_ENDPOINT)
    ids = {ddb.list_tables()["ResponseMetadata"]["RequestId"] for _ in range(5)}
    ids |= {ddb.describe_limits()["ResponseMetadata"]["RequestId"] for _ in range(5)}
    assert len(ids) == 10
    assert all(re.fullmatch(r"[A-Za-z0-9]{52}", request_id) for request_id in ids)


def test_a_data_plane_request_reaches_the_tables_of_its_own_region() -> None:
    configure_sim("off")
    table = f"fidelity-{uuid.uuid4().hex[:8]}"
    ireland = _client(MOTO_ENDPOINT)
    virginia = boto3.client("dynamodb", endpoint_url=MOTO_ENDPOINT, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")
    ireland.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    try:
        ireland.put_item(TableName=table, Item={"pk": {"S": "here"}})
        assert ireland.get_item(TableName=table, Key={"pk": {"S": "here"}})["Item"] == {"pk": {"S": "here"}}
        with pytest.raises(ClientError) as refused:
            virginia.get_item(TableName=table, Key={"pk": {"S": "here"}})
        assert refused.value.response["Error"]["Code"] == "ResourceNotFoundException"
    finally:
        ireland.delete_table(TableName=table)


def test_text_that_reads_like_a_query_string_is_stored_as_dynamodb_stores_it() -> None:
    """Plain moto reads a JSON body holding ``Action=`` as a query string naming another action
    and answers 500; DynamoDB (and the embedded server) store the text."""
    configure_sim("off")
    table = f"fidelity-{uuid.uuid4().hex[:8]}"
    ddb = _client(MOTO_ENDPOINT)
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    try:
        text = "see https://shop.example/?a=1&Action=DeleteTable&AWSAccessKeyId=x"
        ddb.put_item(TableName=table, Item={"pk": {"S": "m"}, "text": {"S": text}})
        assert ddb.get_item(TableName=table, Key={"pk": {"S": "m"}})["Item"]["text"] == {"S": text}
    finally:
        ddb.delete_table(TableName=table)
