"""The realistic backend (devstack/sim.py) behaves as DynamoDB documents, seen through plain boto3.

Each test switches the suite's shared backend to the faults it looks at (``only``: every other
knob off) with an explicit seed, so its random draws are the same on every run.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionClosedError, EndpointConnectionError

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


def only(**knobs):
    """The backend with just these faults (the others off)."""
    return simulated_aws("off", **knobs)


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
    with only(gsi_lag_ms=LAG_MS, seed=1):
        put(client, "a" + group, group)
        seen = [in_index(client, group) for _ in range(5)]
        assert set() in seen
        after_lag()
        assert all(in_index(client, group) == {"a" + group} for _ in range(5))


def test_a_deleted_item_is_still_in_the_index_within_the_lag(client):
    group = new_key()
    with only(gsi_lag_ms=LAG_MS, seed=2):
        put(client, "d" + group, group)
        after_lag()
        client.delete_item(TableName=TABLE, Key={"pk": {"S": "d" + group}})
        assert {"d" + group} in [in_index(client, group) for _ in range(5)]
        after_lag()
        assert in_index(client, group) == set()


def test_eventually_consistent_reads_may_see_the_old_value_and_consistent_reads_see_the_present(client):
    pk = new_key()
    with only(gsi_lag_ms=LAG_MS, stale_read=1.0, seed=4):
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
    with only(gsi_lag_ms=LAG_MS, stale_read=0.0, seed=9):
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
    with only(tx_conflict=1.0, tx_window_ms=1000, seed=4):
        transact_put(client, pk)
        with pytest.raises(ClientError) as failure:
            put(client, pk, "t", "plain")
        assert failure.value.response["Error"]["Code"] == "TransactionConflictException"
        assert value_of(client, pk, consistent=True) == ""
        put(client, new_key(), "t")  # another item is not in the transaction
        time.sleep(1.1)
        put(client, pk, "t", "plain")
        assert value_of(client, pk, consistent=True) == "plain"


def test_a_transaction_meeting_an_item_in_a_transaction_is_cancelled_with_transaction_conflict(client):
    busy, free = new_key(), new_key()
    with only(tx_conflict=1.0, tx_window_ms=1000, seed=5):
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
    connection.list_tables()  # the client is built before the window starts
    with only(tx_conflict=1.0, tx_window_ms=1000, seed=6):
        transact_put(client, busy)
        with pytest.raises(TransactWriteError) as failure:
            connection.transact_write_items(
                condition_check_items=[], delete_items=[], update_items=[],
                put_items=[{"TableName": TABLE, "Item": {"pk": {"S": busy}, "group": {"S": "t"}}}])
    assert [r.code for r in failure.value.cancellation_reasons] == ["TransactionConflict"]


def test_throttling_refuses_before_applying(client):
    pk = new_key()
    with only(throttle=1.0, seed=7):
        with pytest.raises(ClientError) as failure:
            put(client, pk, "g")
        assert failure.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
        with pytest.raises(ClientError) as failure:  # a batch none of whose items could be processed
            client.batch_write_item(RequestItems={TABLE: [
                {"PutRequest": {"Item": {"pk": {"S": pk}, "group": {"S": "g"}}}}]})
        assert failure.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert value_of(client, pk, consistent=True) is None


def test_a_throttled_batch_applies_part_and_answers_the_rest_as_unprocessed(client):
    pks = [new_key() for _ in range(12)]
    with only(throttle=1.0, seed=7):
        unprocessed = client.batch_write_item(RequestItems={TABLE: [
            {"PutRequest": {"Item": {"pk": {"S": pk}, "group": {"S": "g"}}}} for pk in pks]})["UnprocessedItems"]
        left = {request["PutRequest"]["Item"]["pk"]["S"] for request in unprocessed[TABLE]}
        answer = client.batch_get_item(RequestItems={TABLE: {"Keys": [{"pk": {"S": pk}} for pk in pks],
                                                             "ConsistentRead": True}})
    assert left and left < set(pks)
    assert {pk for pk in pks if value_of(client, pk, consistent=True) is not None} == set(pks) - left
    found = {item["pk"]["S"] for item in answer["Responses"].get(TABLE, [])}
    not_read = {key["pk"]["S"] for key in answer["UnprocessedKeys"][TABLE]["Keys"]}
    assert not_read and not_read < set(pks) and found == set(pks) - left - not_read
    assert answer["UnprocessedKeys"][TABLE]["ConsistentRead"] is True


def test_a_throttled_transaction_is_cancelled_with_a_throttling_reason_not_raised(client):
    """AWS cancels a throttled transaction (reason ThrottlingError on an on-demand table) instead
    of raising ProvisionedThroughputExceededException."""
    pks = [new_key(), new_key()]
    with only(throttle=1.0, seed=12):
        with pytest.raises(ClientError) as failure:
            transact_put(client, *pks)
        with pytest.raises(ClientError) as read_failure:
            client.transact_get_items(TransactItems=[{"Get": {"TableName": TABLE, "Key": {"pk": {"S": pk}}}}
                                                     for pk in pks])
    for error in (failure.value.response, read_failure.value.response):
        assert error["Error"]["Code"] == "TransactionCanceledException"
        codes = sorted(reason["Code"] for reason in error["CancellationReasons"])
        assert codes == ["None", "ThrottlingError"]
    assert [value_of(client, pk, consistent=True) for pk in pks] == [None, None]


def test_a_lost_response_is_applied_although_the_client_saw_an_error(client):
    pks = [new_key() for _ in range(8)]
    seen = set()
    with only(lost_response=1.0, seed=8):
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

    with only(lost_response=1.0, seed=9):
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
        with only(throttle=0.5, seed=seed):
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


def test_a_condition_or_update_seen_before_is_decided_by_this_requests_values_and_names(client):
    """Condition trees are kept per text and names, update trees copied from their bytes
    (devstack/moto_speedups.py): the same texts with other values, other names, a missing value
    and a bad expression are each answered as the first time they were seen."""
    pk = new_key()
    put(client, pk, "g", "1")

    def bump(expected: str, new: str, name: str = "value") -> bool:
        try:
            client.update_item(TableName=TABLE, Key={"pk": {"S": pk}},
                               UpdateExpression="SET #v = :new, #n = if_not_exists(#n, :zero) + :one",
                               ConditionExpression="#v = :old AND attribute_exists(pk)",
                               ExpressionAttributeNames={"#v": name, "#n": "count"},
                               ExpressionAttributeValues={":new": {"S": new}, ":old": {"S": expected},
                                                          ":zero": {"N": "0"}, ":one": {"N": "1"}})
            return True
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ConditionalCheckFailedException"
            return False

    assert bump("1", "2") and bump("2", "3")  # the second time: the kept trees, new values
    assert not bump("2", "4")  # a value that no longer matches
    assert not bump("3", "5", name="group")  # other names: group is "g", not "3"
    assert bump("g", "h", name="group")
    with pytest.raises(ClientError) as key_updated:  # the same update, passed before, now names the key
        client.update_item(TableName=TABLE, Key={"pk": {"S": pk}},
                           UpdateExpression="SET #v = :new, #n = if_not_exists(#n, :zero) + :one",
                           ExpressionAttributeNames={"#v": "pk", "#n": "count"},
                           ExpressionAttributeValues={":new": {"S": "other"}, ":zero": {"N": "0"}, ":one": {"N": "1"}})
    assert key_updated.value.response["Error"]["Code"] == "ValidationException"
    item = client.get_item(TableName=TABLE, Key={"pk": {"S": pk}}, ConsistentRead=True)["Item"]
    assert (item["value"]["S"], item["group"]["S"], item["count"]["N"]) == ("3", "h", "3")
    # Refused alike when the tree is new and when it is kept (moto answers these with an error
    # of its own, not DynamoDB's ValidationException: what matters here is that neither applies).
    for condition, values in (("#v = :old", {":new": {"S": "x"}}), ("#v = = :new", {":new": {"S": "x"}})):
        for _ in range(2):
            with pytest.raises((ClientError, BotoCoreError)):
                client.update_item(TableName=TABLE, Key={"pk": {"S": pk}}, UpdateExpression="SET #v = :new",
                                   ConditionExpression=condition, ExpressionAttributeNames={"#v": "value"},
                                   ExpressionAttributeValues=values)
    assert client.get_item(TableName=TABLE, Key={"pk": {"S": pk}}, ConsistentRead=True)["Item"] == item


def test_binary_values_and_the_plain_requests_beside_them_round_trip(client):
    """Requests without a binary value are read as plain JSON, those with one by moto's parser
    (devstack/moto_speedups.py): both store and compare what was sent."""
    pk = new_key()
    client.put_item(TableName=TABLE, Item={"pk": {"S": pk}, "blob": {"B": b"\x00hi"}, "blobs": {"BS": [b"a", b"b"]},
                                           "n": {"N": "2"}, "ok": {"BOOL": True}, "none": {"NULL": True}})
    client.update_item(TableName=TABLE, Key={"pk": {"S": pk}}, UpdateExpression="SET n = n + :one",
                       ConditionExpression="#b = :blob", ExpressionAttributeNames={"#b": "blob"},
                       ExpressionAttributeValues={":one": {"N": "1"}, ":blob": {"B": b"\x00hi"}})
    with pytest.raises(ClientError):
        client.update_item(TableName=TABLE, Key={"pk": {"S": pk}}, UpdateExpression="SET n = :zero",
                           ConditionExpression="ok = :no", ExpressionAttributeValues={":zero": {"N": "0"},
                                                                                       ":no": {"BOOL": False}})
    item = client.get_item(TableName=TABLE, Key={"pk": {"S": pk}}, ConsistentRead=True)["Item"]
    assert item == {"pk": {"S": pk}, "blob": {"B": b"\x00hi"}, "blobs": {"BS": [b"a", b"b"]}, "n": {"N": "3"},
                    "ok": {"BOOL": True}, "none": {"NULL": True}}
    # Stored as bytes, not as their base64 text: compared and measured as bytes.
    client.put_item(TableName=TABLE, Item={"pk": {"S": pk}, "blob": {"B": b"\xff"}})
    client.update_item(TableName=TABLE, Key={"pk": {"S": pk}}, UpdateExpression="SET n = :one",
                       ConditionExpression="#b > :lo AND size(#b) = :one", ExpressionAttributeNames={"#b": "blob"},
                       ExpressionAttributeValues={":one": {"N": "1"}, ":lo": {"B": b"\x00"}})


def test_an_item_over_400_kb_is_refused_and_one_under_is_stored(client):
    """The item size check (devstack/moto_speedups.py adds it up in one pass) refuses what moto
    refused and nothing else."""
    pk = new_key()
    client.put_item(TableName=TABLE, Item={"pk": {"S": pk}, **{f"a{i}": {"S": "x" * 39_000} for i in range(10)}})
    with pytest.raises(ClientError) as refused:
        client.put_item(TableName=TABLE, Item={"pk": {"S": pk}, **{f"a{i}": {"S": "x" * 39_000} for i in range(11)}})
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    stored = client.get_item(TableName=TABLE, Key={"pk": {"S": pk}}, ConsistentRead=True)["Item"]
    assert len(stored) == 11


def settle_backend() -> None:
    """Every write so far visible everywhere (what waiting for the longest lag would show)."""
    request = urllib.request.Request(f"{MOTO_ENDPOINT}/_kefu/sim/settle", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


def index_values(client, group: str) -> dict[str, str]:
    items = client.query(TableName=TABLE, IndexName="by_group", KeyConditionExpression="#g = :g",
                         ExpressionAttributeNames={"#g": "group"},
                         ExpressionAttributeValues={":g": {"S": group}})["Items"]
    return {item["pk"]["S"]: item.get("value", {}).get("S", "") for item in items}


def test_a_later_write_can_reach_the_index_before_an_earlier_one(client):
    """Each write propagates at its own moment: with seed 3 the first write waits 2.8 s, the
    second 20 ms. (Rewinding the whole table to one moment could never show B without A.)"""
    group = new_key()
    first, second = "a" + group, "b" + group
    with only(gsi_lag_ms=3000, seed=3):
        put(client, first, group)
        put(client, second, group)
        seen = set()
        for _ in range(200):
            seen = in_index(client, group)
            if second in seen:
                break
            time.sleep(0.01)
        assert seen == {second}
        settle_backend()
        assert in_index(client, group) == {first, second}


def test_an_items_versions_reach_the_index_in_the_order_they_were_written(client):
    group, pk = new_key(), new_key()
    with only(gsi_lag_ms=800, seed=32):
        for version in range(1, 6):
            put(client, pk, group, str(version))
        observed = []
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            observed.append(int(index_values(client, group).get(pk, "0")))
    assert observed == sorted(observed)
    assert observed[0] < 5 and observed[-1] == 5


def test_a_lag_spike_hides_a_write_past_the_codes_one_second_index_window(client):
    """A spiked index read trails the present by lag_spike_ms / 5 .. lag_spike_ms: 2-10 s here."""
    group = new_key()
    with only(gsi_lag_ms=100, lag_spike=1.0, lag_spike_ms=10_000, seed=13):
        put(client, "s" + group, group)
        time.sleep(1.2)
        assert in_index(client, group) == set()
        assert value_of(client, "s" + group, consistent=True) == "v1"
        settle_backend()
        assert in_index(client, group) == {"s" + group}


def test_without_spikes_every_write_reaches_the_index_within_the_lag(client):
    group = new_key()
    with only(gsi_lag_ms=200, seed=14):
        put(client, "n" + group, group)
        time.sleep(0.3)
        assert all(in_index(client, group) == {"n" + group} for _ in range(20))


def test_a_transaction_meeting_a_plain_write_in_flight_is_cancelled_with_transaction_conflict(client):
    busy, free = new_key(), new_key()
    with only(write_conflict=1.0, write_window_ms=3000, seed=15):
        put(client, busy, "t", "plain")
        with pytest.raises(ClientError) as failure:
            transact_put(client, free, busy)
        error = failure.value.response
        assert error["Error"]["Code"] == "TransactionCanceledException"
        assert [reason["Code"] for reason in error["CancellationReasons"]] == ["None", "TransactionConflict"]
        assert value_of(client, free, consistent=True) is None
        assert value_of(client, busy, consistent=True) == "plain"
        transact_put(client, free)  # an item no plain write touched is free
    with only(write_conflict=1.0, write_window_ms=50, seed=15):
        put(client, busy, "t", "plain")
        time.sleep(0.1)
        transact_put(client, busy)  # the write is no longer in flight
    assert value_of(client, busy, consistent=True) == ""


TTL_TABLE = "kefu-sim-ttl-probe"


@pytest.fixture(scope="module")
def ttl_client(client):
    configure_sim("off")
    if TTL_TABLE in client.list_tables()["TableNames"]:
        client.delete_table(TableName=TTL_TABLE)
    client.create_table(TableName=TTL_TABLE, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    client.update_time_to_live(TableName=TTL_TABLE,
                               TimeToLiveSpecification={"AttributeName": "expires_at", "Enabled": True})
    yield client
    configure_sim("off")
    client.delete_table(TableName=TTL_TABLE)


def put_expiring(client, pk: str, expires_at: Any) -> None:
    client.put_item(TableName=TTL_TABLE, Item={"pk": {"S": pk}, "expires_at": expires_at})


def stored(client, pk: str) -> bool:
    return "Item" in client.get_item(TableName=TTL_TABLE, Key={"pk": {"S": pk}}, ConsistentRead=True)


def test_an_expired_item_is_still_read_until_the_background_delete(ttl_client):
    pk = new_key()
    with only(ttl_delay_s=3600, seed=0):  # this seed deletes it about 17 minutes after expiry
        put_expiring(ttl_client, pk, {"N": str(int(time.time()) - 1)})
        assert stored(ttl_client, pk)
        time.sleep(0.2)
        assert stored(ttl_client, pk)


def test_expired_items_are_deleted_some_time_after_they_expire_and_others_stay(ttl_client):
    expiring, later, moved, not_a_number, no_ttl = (new_key() for _ in range(5))
    soon = time.time() + 0.5
    with only(ttl_delay_s=1, seed=16):
        put_expiring(ttl_client, expiring, {"N": f"{soon:.3f}"})
        put_expiring(ttl_client, later, {"N": str(int(time.time()) + 3600)})
        put_expiring(ttl_client, moved, {"N": f"{soon:.3f}"})
        ttl_client.update_item(TableName=TTL_TABLE, Key={"pk": {"S": moved}}, UpdateExpression="SET expires_at = :e",
                               ExpressionAttributeValues={":e": {"N": str(int(time.time()) + 3600)}})
        put_expiring(ttl_client, not_a_number, {"S": str(int(time.time()) - 10)})
        ttl_client.put_item(TableName=TTL_TABLE, Item={"pk": {"S": no_ttl}})
        assert stored(ttl_client, expiring)
        deadline = time.time() + 10
        while stored(ttl_client, expiring) and time.time() < deadline:
            time.sleep(0.1)
        assert not stored(ttl_client, expiring)
        assert time.time() >= soon
        assert all(stored(ttl_client, pk) for pk in (later, moved, not_a_number, no_ttl))


def test_the_knobs_in_force_are_shown_and_changed_by_name():
    shown = configure_sim("aws", seed=5, lag_spike=0.5, ttl_delay_s=2)
    assert (shown["mode"], shown["seed"], shown["lag_spike"], shown["ttl_delay_s"]) == ("aws", 5, 0.5, 2)
    assert shown["throttle"] == 0.01 and shown["lag_spike_ms"] == 10_000
    with urllib.request.urlopen(f"{MOTO_ENDPOINT}/_kefu/sim", timeout=10) as response:
        assert json.loads(response.read()) == shown
    assert configure_sim("off")["ttl_delay_s"] == float("inf")
