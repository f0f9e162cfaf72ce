"""``POST /_kefu/tables/reset`` (devstack/table_reset.py): every test starts from empty tables,
whether the backend rebuilds a table or empties it in place."""

from __future__ import annotations

from chalicelib.models.tables import all_table_specs
from tests.concurrency.invariants import settle
from tests.conftest import reset_tables, simulated_aws

LAGGING = {"gsi_lag_ms": 60_000, "lag_spike": 0, "stale_read": 0, "tx_conflict": 0, "write_conflict": 0,
           "throttle": 0, "lost_response": 0}


def _connections_table() -> str:
    return all_table_specs()["connections"]["TableName"]


def _put_connection(client, connection_id: str, user_id: str) -> None:
    client.put_item(TableName=_connections_table(), Item={
        "connection_id": {"S": connection_id}, "user_id": {"S": user_id}, "user_type": {"S": "visitor"},
        "connected_at": {"S": "2026-12-03T10:00:00Z"}})


def _by_user(client, user_id: str) -> list[dict]:
    return client.query(TableName=_connections_table(), IndexName="by_user",
                        KeyConditionExpression="user_id = :u",
                        ExpressionAttributeValues={":u": {"S": user_id}})["Items"]


def test_a_reset_leaves_every_table_and_its_indexes_empty(tables):
    _put_connection(tables, "c1=", "v1")
    assert _by_user(tables, "v1")

    reset_tables()
    reset_tables()  # a second reset of unchanged tables empties them in place

    _put_connection(tables, "c2=", "v2")
    reset_tables()
    assert tables.scan(TableName=_connections_table(), ConsistentRead=True)["Items"] == []
    assert _by_user(tables, "v1") == [] and _by_user(tables, "v2") == []


def test_an_index_copy_lagging_from_before_a_reset_shows_nothing_of_the_old_items(tables):
    reset_tables()
    with simulated_aws(**LAGGING):
        _put_connection(tables, "c1=", "v1")
        settle()
        assert _by_user(tables, "v1")
        _put_connection(tables, "c2=", "v1")  # the index lags a minute behind this write

        reset_tables()

        assert _by_user(tables, "v1") == []


def test_a_table_whose_schema_a_request_changed_is_rebuilt_as_specified(tables):
    reset_tables()
    name = _connections_table()
    tables.update_time_to_live(TableName=name,
                               TimeToLiveSpecification={"AttributeName": "expires_at", "Enabled": False})
    assert tables.describe_time_to_live(TableName=name)["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"

    reset_tables()

    assert tables.describe_time_to_live(TableName=name)["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
