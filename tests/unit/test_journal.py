"""The embedded DynamoDB's journal (devstack/journal.py): after a crash the data is exactly what was
acknowledged, whatever point the crash hit; replay never applies a write twice; a record cut short
by the crash is ignored; a checkpoint compacts the journal into the snapshot.

Each "process" here is an ``EmbeddedMoto`` on one data dir. moto's tables live in this test process's
memory, so a restart first makes moto forget the table, as a new process would.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from devstack.dynamodb import SNAPSHOT_FILE, EmbeddedMoto, Restored
from devstack.journal import JOURNAL_DIR, Journal, JournalError, Record, encode_record, read_segment, segments
from devstack.sim import SimConfig

KEY = {"AttributeName": "pk", "KeyType": "HASH"}


class Process:
    """One run of the embedded DynamoDB on ``data_dir``, holding one scratch table."""

    def __init__(self, data_dir: Path, table: str, sim: SimConfig | None = None) -> None:
        self.data_dir = data_dir
        self.table = table
        self.moto = EmbeddedMoto(data_dir=data_dir, sim=sim)
        self.client: Any = None
        self.restored = Restored(0, 0)

    def start(self) -> Process:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        backend = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
        if self.table in backend.tables:
            backend.delete_table(self.table)  # a new process starts with nothing in memory
        endpoint = self.moto.start()
        self.client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                                   config=Config(retries={"max_attempts": 1}))
        self.client.create_table(TableName=self.table, BillingMode="PAY_PER_REQUEST", KeySchema=[KEY],
                                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        self.restored = self.moto.restore({"scratch": self.table}, self.snapshot)
        return self

    @property
    def snapshot(self) -> Path:
        return self.data_dir / SNAPSHOT_FILE

    @property
    def journal(self) -> Journal:
        assert self.moto.journal is not None
        return self.moto.journal

    def crash(self) -> None:
        """Stop serving with no checkpoint and no flush: what ``kill -9`` leaves is on disk."""
        self.moto._server.stop()

    def checkpoint(self) -> int:
        return self.moto.checkpoint({"scratch": self.table}, self.snapshot)

    def items(self) -> dict[str, dict[str, Any]]:
        pages = self.client.get_paginator("scan").paginate(TableName=self.table, ConsistentRead=True)
        return {item["pk"]["S"]: item for page in pages for item in page["Items"]}

    def add(self, key: str, amount: int = 1) -> None:
        self.client.update_item(TableName=self.table, Key={"pk": {"S": key}}, UpdateExpression="ADD n :one",
                                ExpressionAttributeValues={":one": {"N": str(amount)}})


@pytest.fixture
def table() -> str:
    return f"journal-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def run(tmp_path: Path, table: str) -> Iterator[Any]:
    started: list[Process] = []

    def start(sim: SimConfig | None = None) -> Process:
        process = Process(tmp_path / "data", table, sim).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.moto._server.stop()
        if process.moto.journal is not None:
            process.moto.journal.close()


def write_every_kind(process: Process) -> None:
    client, name = process.client, process.table
    client.put_item(TableName=name, Item={"pk": {"S": "put"}, "blob": {"B": b"\x00\xff"}, "tags": {"SS": ["a"]}})
    for _ in range(3):
        process.add("counter")
    client.update_item(TableName=name, Key={"pk": {"S": "put"}}, UpdateExpression="SET seen = :yes",
                       ConditionExpression="attribute_exists(pk)", ExpressionAttributeValues={":yes": {"BOOL": True}})
    client.put_item(TableName=name, Item={"pk": {"S": "doomed"}})
    client.delete_item(TableName=name, Key={"pk": {"S": "doomed"}})
    client.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": {"pk": {"S": f"batch-{n}"}}}}
                                                 for n in range(3)]})
    client.transact_write_items(TransactItems=[
        {"Put": {"TableName": name, "Item": {"pk": {"S": "tx"}}, "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Update": {"TableName": name, "Key": {"pk": {"S": "counter"}}, "UpdateExpression": "ADD n :ten",
                    "ExpressionAttributeValues": {":ten": {"N": "10"}}}},
    ])
    with pytest.raises(ClientError):  # refused: nothing applied, nothing to journal
        client.put_item(TableName=name, Item={"pk": {"S": "tx"}}, ConditionExpression="attribute_not_exists(pk)")


def test_every_acknowledged_write_is_back_after_a_crash(run: Any) -> None:
    first = run()
    write_every_kind(first)
    before = first.items()
    first.crash()

    second = run()

    assert second.restored.replayed > 0
    assert second.items() == before
    assert before["counter"]["n"] == {"N": "13"} and "doomed" not in before


def test_an_acknowledged_write_is_on_disk_when_its_answer_arrives(run: Any) -> None:
    process = run()
    process.client.put_item(TableName=process.table, Item={"pk": {"S": "acknowledged"}})

    on_disk = [record for _, path in segments(process.journal.directory) for record in read_segment(path)]
    assert on_disk and on_disk[-1].op == "PutItem" and b"acknowledged" in on_disk[-1].body


def test_a_write_whose_answer_was_lost_was_applied_and_survives(run: Any) -> None:
    first = run(SimConfig.build("off", lost_response=1.0))
    with pytest.raises((ClientError, BotoCoreError)):  # a 500 or a reset connection
        first.client.put_item(TableName=first.table, Item={"pk": {"S": "answer lost"}})
    first.crash()

    assert "answer lost" in run().items()


def test_replay_after_replay_applies_nothing_twice(run: Any) -> None:
    first = run()
    for _ in range(5):
        first.add("counter")
    first.crash()
    second = run()  # replays 5 ADDs and checkpoints
    second.crash()

    third = run()

    assert third.restored.replayed == 0
    assert third.items()["counter"]["n"] == {"N": "5"}


def test_a_crash_between_snapshot_and_journal_cleanup_applies_nothing_twice(
        run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    first = run()
    for _ in range(4):
        first.add("counter")
    monkeypatch.setattr(Journal, "discard_through", lambda self, seq: 0)  # the crash comes first
    first.checkpoint()
    first.add("counter")
    first.crash()
    monkeypatch.undo()
    assert len(segments(first.journal.directory)) == 2  # the covered segment is still there

    second = run()

    assert second.restored.replayed == 1
    assert second.items()["counter"]["n"] == {"N": "5"}


def test_a_record_cut_short_by_a_crash_is_ignored_and_numbering_goes_on(run: Any) -> None:
    first = run()
    for _ in range(3):
        first.add("counter")
    first.crash()
    (_, segment), = segments(first.journal.directory)
    segment.write_bytes(segment.read_bytes()[:-5])  # the last record was being written

    second = run()
    assert second.items()["counter"]["n"] == {"N": "2"}
    second.add("counter", 100)
    second.crash()
    for _, path in segments(second.journal.directory):  # the start's checkpoint may be cut short too
        path.write_bytes(path.read_bytes() + b"\x00\x00\x00\x07garbage")

    assert run().items()["counter"]["n"] == {"N": "102"}


def test_a_checkpoint_compacts_the_journal_into_the_snapshot(run: Any) -> None:
    process = run()
    for _ in range(3):
        process.add("counter")
    position = process.journal.position()

    assert process.checkpoint() == 1

    snapshot = json.loads(process.snapshot.read_text())
    assert snapshot["journal_seq"] == position
    assert snapshot["tables"]["scratch"]["items"] == [{"pk": {"S": "counter"}, "n": {"N": "3"}}]
    (first_seq, current), = segments(process.journal.directory)
    assert first_seq == position + 1 and current.read_bytes() == b""
    process.crash()
    restarted = run()
    assert restarted.restored == Restored(items=1, replayed=0)


def test_a_gap_in_the_journal_stops_the_start(tmp_path: Path) -> None:
    directory = tmp_path / JOURNAL_DIR
    directory.mkdir()
    (directory / f"{1:020d}.log").write_bytes(encode_record(Record(1, "PutItem", "us-east-1", b"{}")))
    (directory / f"{3:020d}.log").write_bytes(encode_record(Record(3, "PutItem", "us-east-1", b"{}")))

    from devstack.journal import records_after

    with pytest.raises(JournalError, match="jumps from write 1 to 3"):
        list(records_after(directory, 0))
    assert [r.seq for r in records_after(directory, 2)] == [3]  # a snapshot covering 2 needs nothing missing
