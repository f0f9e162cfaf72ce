"""Snapshots bring every attribute type back as it was, are replaced atomically, and still read the
format from before the journal; a fresh start sets the old data aside without deleting it."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.datadir import set_aside
from devstack.dynamodb import ClientTables, Snapshotter, load_snapshot, save_snapshot
from tests.conftest import dynamodb_client

ITEM: dict[str, Any] = {
    "pk": {"S": "item-1"},
    "n": {"N": "42.5"},
    "blob": {"B": b"\x00\xffbinary"},
    "blobs": {"BS": [b"\x01", b"\x02"]},
    "nested": {"M": {"list": {"L": [{"B": b"\x03"}, {"S": "x"}, {"NULL": True}]}, "ok": {"BOOL": True}}},
    "tags": {"SS": ["a", "b"]},
}


@pytest.fixture
def scratch_table() -> Iterator[str]:
    client = dynamodb_client()
    name = f"devstack-snapshot-{uuid.uuid4().hex[:8]}"
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    yield name
    client.delete_table(TableName=name)


def test_items_survive_a_save_and_load(scratch_table: str, tmp_path: Path) -> None:
    client = dynamodb_client()
    client.put_item(TableName=scratch_table, Item=ITEM)
    path = tmp_path / "snapshot.json"

    assert save_snapshot(ClientTables(client), {"scratch": scratch_table}, path) == 1
    client.delete_item(TableName=scratch_table, Key={"pk": {"S": "item-1"}})
    assert load_snapshot(ClientTables(client), {"scratch": scratch_table}, path).items == 1

    restored = client.get_item(TableName=scratch_table, Key={"pk": {"S": "item-1"}}, ConsistentRead=True)["Item"]
    assert restored["blob"] == ITEM["blob"]
    assert sorted(restored["blobs"]["BS"]) == ITEM["blobs"]["BS"]
    assert restored["nested"] == ITEM["nested"]
    assert restored["n"] == ITEM["n"]
    assert sorted(restored["tags"]["SS"]) == ["a", "b"]


def test_a_save_replaces_the_file_and_leaves_no_temporary(scratch_table: str, tmp_path: Path) -> None:
    client = dynamodb_client()
    path = tmp_path / "snapshot.json"
    path.write_text("old")

    save_snapshot(ClientTables(client), {"scratch": scratch_table}, path)

    assert json.loads(path.read_text())["tables"]["scratch"]["items"] == []
    assert [p.name for p in tmp_path.iterdir()] == ["snapshot.json"]


def test_tables_the_app_no_longer_has_are_skipped(scratch_table: str, tmp_path: Path) -> None:
    client = dynamodb_client()
    client.put_item(TableName=scratch_table, Item={"pk": {"S": "x"}})
    path = tmp_path / "snapshot.json"
    save_snapshot(ClientTables(client), {"gone": scratch_table}, path)

    assert load_snapshot(ClientTables(client), {"scratch": scratch_table}, path).items == 0


def test_snapshots_are_taken_periodically_and_on_stop(scratch_table: str, tmp_path: Path) -> None:
    client = dynamodb_client()
    path = tmp_path / "snapshot.json"
    snapshotter = Snapshotter(lambda: save_snapshot(ClientTables(client), {"scratch": scratch_table}, path),
                              path, interval=0.1)
    snapshotter.start()
    try:
        deadline = time.monotonic() + 5
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.exists()
        client.put_item(TableName=scratch_table, Item={"pk": {"S": "late"}})
    finally:
        snapshotter.stop()

    assert json.loads(path.read_text())["tables"]["scratch"]["items"] == [{"pk": {"S": "late"}}]


def test_a_snapshot_from_before_the_journal_loads_as_covering_no_journaled_write(
        scratch_table: str, tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps({"format": "kefu-devstack-snapshot", "version": 1, "saved_at": "2026-01-01T00:00:00",
                                "tables": {"scratch": {"table_name": "old", "items": [{"pk": {"S": "v1"}}]}}}))

    loaded = load_snapshot(ClientTables(dynamodb_client()), {"scratch": scratch_table}, path)

    assert (loaded.items, loaded.journal_seq) == (1, 0)


def test_setting_data_aside_moves_only_the_stack_s_files_and_never_overwrites(tmp_path: Path) -> None:
    for name in ("snapshot.json", "admin.json", "jwt_secret", "stack.json", "notes.txt"):
        (tmp_path / name).write_text(name)
    (tmp_path / "journal").mkdir()
    (tmp_path / "journal" / "00000000000000000001.log").write_bytes(b"records")

    first = set_aside(tmp_path)
    (tmp_path / "snapshot.json").write_text("newer")
    second = set_aside(tmp_path)

    assert first is not None and second is not None and first != second
    assert sorted(p.name for p in first.iterdir()) == ["admin.json", "journal", "jwt_secret", "snapshot.json"]
    assert (first / "journal" / "00000000000000000001.log").read_bytes() == b"records"
    assert [p.name for p in second.iterdir()] == ["snapshot.json"] and (second / "snapshot.json").read_text() == "newer"
    assert {p.name for p in tmp_path.iterdir()} == {"stack.json", "notes.txt", first.name, second.name}
    assert set_aside(tmp_path) is None
