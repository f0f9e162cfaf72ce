"""The realistic backend (devstack/sim.py) behaves as DynamoDB documents, seen through plain boto3.

Each test switches the suite's shared backend with ``simulated_aws`` and an explicit seed, so its
random draws are the same on every run.
"""

from __future__ import annotations

import contextlib
import time
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from tests.conftest import MOTO_ENDPOINT, configure_sim, simulated_aws

TABLE = "kefu-sim-probe"
LAG_MS = 1000


@pytest.fixture(scope="module")
def client():
    """A client that never retries, so every simulated fault is visible."""
    ddb = boto3.client("dynamodb", endpoint_url=MOTO_ENDPOINT, region_name="us-east-1",
                       config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
    configure_sim("off")
    if TABLE in ddb.list_tables()["TableNames"]:
        ddb.delete_table(TableName=TABLE)
    ddb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "group", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{"IndexName": "by_group",
                                 "KeySchema": [{"AttributeName": "group", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
    )
    yield ddb
    configure_sim("off")
    ddb.delete_table(TableName=TABLE)


def new_key() -> str:
    return uuid.uuid4().hex


def put(client, pk: str, group: str, value: str = "v1") -> None:
    client.put_item(TableName=TABLE, Item={"pk": {"S": pk}, "group": {"S": group}, "value": {"S": value}})


def in_index(client, group: str) -> set[str]:
    items = client.query(TableName=TABLE, IndexName="by_group", KeyConditionExpression="#g = :g",
                         ExpressionAttributeNames={"#g": "group"},
                         ExpressionAttributeValues={":g": {"S": group}})["Items"]
    return {item["pk"]["S"] for item in items}


def value_of(client, pk: str, consistent: bool) -> str | None:
    item = client.get_item(TableName=TABLE, Key={"pk": {"S": pk}}, ConsistentRead=consistent).get("Item")
    return None if item is None else item.get("value", {}).get("S", "")


def after_lag() -> None:
    time.sleep(LAG_MS / 1000 + 0.05)


def test_a_new_item_is_missing_from_the_index_right_after_the_put_and_present_after_the_lag(client):
    group = new_key()
    with simulated_aws(gsi_lag_ms=LAG_MS, seed=1):
        put(client, "a" + group, group)
        seen = [in_index(client, group) for _ in range(5)]
        assert set() in seen
        after_lag()
        assert all(in_index(client, group) == {"a" + group} for _ in range(5))


def test_a_deleted_item_is_still_in_the_index_within_the_lag(client):
    group = new_key()
    with simulated_aws(gsi_lag_ms=LAG_MS, seed=2):
        put(client, "d" + group, group)
        after_lag()
        client.delete_item(TableName=TABLE, Key={"pk": {"S": "d" + group}})
        assert {"d" + group} in [in_index(client, group) for _ in range(5)]
        after_lag()
        assert in_index(client, group) == set()


def test_eventually_consistent_reads_may_see_the_old_value_and_consistent_reads_see_the_present(client):
    pk = new_key()
    with simulated_aws(gsi_lag_ms=LAG_MS, stale_read=1.0, seed=3):
        put(client, pk, "g", "old")
        after_lag()
        client.update_item(TableName=TABLE, Key={"pk": {"S": pk}}, UpdateExpression="SET #v = :v",
                           ExpressionAttributeNames={"#v": "value"},
                           ExpressionAttributeValues={":v": {"S": "new"}})
        assert "old" in [value_of(client, pk, consistent=False) for _ in range(5)]
        assert [value_of(client, pk, consistent=True) for _ in range(5)] == ["new"] * 5
        after_lag()
        assert value_of(client, pk, consistent=False) == "new"


def test_without_stale_reads_only_the_index_lags(client):
    pk = new_key()
    with simulated_aws(gsi_lag_ms=LAG_MS, stale_read=0.0, seed=9):
        put(client, pk, pk)
        assert [value_of(client, pk, consistent=False) for _ in range(5)] == ["v1"] * 5
        assert set() in [in_index(client, pk) for _ in range(5)]


def test_off_answers_from_the_present(client):
    group = new_key()
    with simulated_aws("off", gsi_lag_ms=0):
        put(client, "o" + group, group)
        assert in_index(client, group) == {"o" + group}


def transact_put(client, *pks: str):
    return client.transact_write_items(TransactItems=[
        {"Put": {"TableName": TABLE, "Item": {"pk": {"S": pk}, "group": {"S": "t"}}}} for pk in pks])


def test_a_plain_write_right_after_a_transaction_conflicts_and_none_after_the_window(client):
    pk = new_key()
    with simulated_aws(tx_conflict=1.0, gsi_lag_ms=0, seed=4):
        transact_put(client, pk)
        with pytest.raises(ClientError) as failure:
            put(client, pk, "t", "plain")
        assert failure.value.response["Error"]["Code"] == "TransactionConflictException"
        assert value_of(client, pk, consistent=True) == ""
        put(client, new_key(), "t")  # another item is not in the transaction
        time.sleep(0.06)
        put(client, pk, "t", "plain")
        assert value_of(client, pk, consistent=True) == "plain"


def test_a_transaction_meeting_an_item_in_a_transaction_is_cancelled_with_transaction_conflict(client):
    busy, free = new_key(), new_key()
    with simulated_aws(tx_conflict=1.0, gsi_lag_ms=0, seed=5):
        transact_put(client, busy)
        with pytest.raises(ClientError) as failure:
            transact_put(client, free, busy)
        error = failure.value.response
        assert error["Error"]["Code"] == "TransactionCanceledException"
        assert [reason["Code"] for reason in error["CancellationReasons"]] == ["None", "TransactionConflict"]
        assert value_of(client, free, consistent=True) is None


def test_pynamodb_reads_the_cancellation_reasons(client):
    from pynamodb.connection import Connection
    from pynamodb.exceptions import TransactWriteError

    busy = new_key()
    connection = Connection(region="us-east-1", host=MOTO_ENDPOINT, max_retry_attempts=0)
    connection.list_tables()  # the client is built before the 50 ms window starts
    with simulated_aws(tx_conflict=1.0, gsi_lag_ms=0, seed=6):
        transact_put(client, busy)
        with pytest.raises(TransactWriteError) as failure:
            connection.transact_write_items(
                condition_check_items=[], delete_items=[], update_items=[],
                put_items=[{"TableName": TABLE, "Item": {"pk": {"S": busy}, "group": {"S": "t"}}}])
    assert [r.code for r in failure.value.cancellation_reasons] == ["TransactionConflict"]


def test_throttling_refuses_before_applying(client):
    pk = new_key()
    with simulated_aws(throttle=1.0, seed=7):
        with pytest.raises(ClientError) as failure:
            put(client, pk, "g")
        assert failure.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
        unprocessed = client.batch_write_item(RequestItems={TABLE: [
            {"PutRequest": {"Item": {"pk": {"S": pk}, "group": {"S": "g"}}}}]})["UnprocessedItems"]
        assert list(unprocessed) == [TABLE]
    assert value_of(client, pk, consistent=True) is None


def test_a_lost_response_is_applied_although_the_client_saw_an_error(client):
    pks = [new_key() for _ in range(8)]
    seen = set()
    with simulated_aws(lost_response=1.0, seed=8):
        for pk in pks:
            with pytest.raises((ClientError, ConnectionClosedError, EndpointConnectionError)) as failure:
                put(client, pk, "g")
            error = failure.value
            seen.add(error.response["Error"]["Code"] if isinstance(error, ClientError) else "reset")
    assert seen == {"InternalServerError", "reset"}
    assert all(value_of(client, pk, consistent=True) == "v1" for pk in pks)


def test_a_retried_transaction_with_its_token_meets_its_own_commit_instead_of_applying_again(client):
    pk, token = new_key(), new_key()

    def add_one(amount: str = "1"):
        return client.transact_write_items(ClientRequestToken=token, TransactItems=[{"Update": {
            "TableName": TABLE, "Key": {"pk": {"S": pk}}, "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": {":one": {"N": amount}}}}])

    with simulated_aws(lost_response=1.0, seed=9):
        with pytest.raises((ClientError, ConnectionClosedError, EndpointConnectionError)):
            add_one()
    add_one()
    add_one()
    item = client.get_item(TableName=TABLE, Key={"pk": {"S": pk}}, ConsistentRead=True)["Item"]
    assert item["n"] == {"N": "1"}
    with pytest.raises(ClientError) as failure:
        add_one("2")
    assert failure.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"


def test_a_cancelled_transaction_is_not_remembered_by_its_token(client):
    pk, token = new_key(), new_key()

    def put_if_absent():
        return client.transact_write_items(ClientRequestToken=token, TransactItems=[{"Put": {
            "TableName": TABLE, "Item": {"pk": {"S": pk}, "group": {"S": "t"}},
            "ConditionExpression": "attribute_not_exists(pk)"}}])

    put(client, pk, "t")
    with pytest.raises(ClientError):
        put_if_absent()
    client.delete_item(TableName=TABLE, Key={"pk": {"S": pk}})
    put_if_absent()
    assert value_of(client, pk, consistent=True) == ""


def test_the_same_seed_gives_the_same_faults(client):
    def faults(seed: int) -> list[bool]:
        outcome = []
        with simulated_aws(throttle=0.5, seed=seed):
            for _ in range(24):
                try:
                    client.get_item(TableName=TABLE, Key={"pk": {"S": "nobody"}}, ConsistentRead=True)
                    outcome.append(False)
                except ClientError:
                    outcome.append(True)
        return outcome

    first = faults(11)
    assert faults(11) == first
    assert faults(12) != first
    assert any(first) and not all(first)


def test_unknown_knobs_and_modes_are_refused():
    with pytest.raises(ValueError):
        configure_sim("sometimes")
    with pytest.raises(ValueError):
        configure_sim("aws", gsi_lag=5)


def test_a_query_finds_exactly_its_partition_after_every_kind_of_write(client):
    """Queries walk only their partition (devstack/moto_speedups.py): after puts, in-place updates
    that move items between index partitions, deletes, batches and cancelled transactions, each
    Query answers what a Scan of the whole table filtered on the same key finds."""
    import random

    rng = random.Random(3)
    prefix = new_key()
    pks = [f"{prefix}-{i}" for i in range(12)]
    groups = [f"{prefix}-g{i}" for i in range(4)]
    for step in range(150):
        pk, group = rng.choice(pks), rng.choice(groups)
        in_index(client, group)  # queries all along: the partitions are kept, not rebuilt at the end
        kind = rng.random()
        if kind < 0.3:
            put(client, pk, group, str(step))
        elif kind < 0.55:
            client.update_item(TableName=TABLE, Key={"pk": {"S": pk}}, UpdateExpression="SET #g = :g",
                               ExpressionAttributeNames={"#g": "group"}, ExpressionAttributeValues={":g": {"S": group}})
        elif kind < 0.65:
            client.update_item(TableName=TABLE, Key={"pk": {"S": pk}}, UpdateExpression="REMOVE #g",
                               ExpressionAttributeNames={"#g": "group"})
        elif kind < 0.75:
            client.delete_item(TableName=TABLE, Key={"pk": {"S": pk}})
        elif kind < 0.85:
            client.batch_write_item(RequestItems={TABLE: [
                {"PutRequest": {"Item": {"pk": {"S": pk}, "group": {"S": group}}}},
                {"DeleteRequest": {"Key": {"pk": {"S": rng.choice([p for p in pks if p != pk])}}}}]})
        else:
            other = rng.choice([p for p in pks if p != pk])
            with contextlib.suppress(ClientError):  # cancelled when ``other`` is absent: rolled back
                client.transact_write_items(TransactItems=[
                    {"Update": {"TableName": TABLE, "Key": {"pk": {"S": pk}}, "UpdateExpression": "SET #g = :g",
                                "ExpressionAttributeNames": {"#g": "group"},
                                "ExpressionAttributeValues": {":g": {"S": group}}}},
                    {"ConditionCheck": {"TableName": TABLE, "Key": {"pk": {"S": other}},
                                        "ConditionExpression": "attribute_exists(pk)"}}])
    everything = client.scan(TableName=TABLE, ConsistentRead=True, FilterExpression="begins_with(pk, :p)",
                             ExpressionAttributeValues={":p": {"S": prefix}})["Items"]
    for group in groups:
        assert in_index(client, group) == {i["pk"]["S"] for i in everything if i.get("group", {}).get("S") == group}
    for pk in pks:
        found = client.query(TableName=TABLE, KeyConditionExpression="pk = :p", ConsistentRead=True,
                             ExpressionAttributeValues={":p": {"S": pk}})["Items"]
        assert found == [i for i in everything if i["pk"]["S"] == pk]
