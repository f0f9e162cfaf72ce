"""What the embedded DynamoDB's journal (devstack/journal.py) costs ``make run``: every write waits
for an fsync before it is answered, and concurrent writers share fsyncs (group commit).

Runs the embedded server in this process with a journal on a temporary data dir and without one,
each with WRITERS threads making WRITES_EACH PutItems, on plain moto (no sim faults). Prints the
writes per fsync (target: above 1 with concurrent writers) and the time per write with and without
the journal, on this machine's disk. While moto takes longer per request than the disk per fsync
(its requests run one at a time under the server's lock), an fsync overlaps the next request and
covers few writes: the journal's cost per write is then about one fsync, not one per writer.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import _harness  # noqa: F401  (puts the project root on sys.path)

WRITERS = 8
WRITES_EACH = 40


def run(data_dir: Path | None) -> tuple[list[float], int]:
    """Per-write latencies (s) of WRITERS concurrent writers, and the fsyncs the journal made."""
    import boto3

    from devstack.dynamodb import EmbeddedMoto

    moto = EmbeddedMoto(data_dir=data_dir)
    endpoint = moto.start()
    table = f"bench-journal-{uuid.uuid4().hex[:8]}"
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench")
    client.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    if data_dir is not None:
        moto.restore({"bench": table}, data_dir / "snapshot.json")
    latencies: list[float] = []
    lock = threading.Lock()

    def write(writer: int) -> None:
        own = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="bench", aws_secret_access_key="bench")
        for n in range(WRITES_EACH):
            started = time.perf_counter()
            own.put_item(TableName=table, Item={"pk": {"S": f"{writer}-{n}"}, "text": {"S": "x" * 200}})
            with lock:
                latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    fsyncs = moto.journal.fsyncs if moto.journal is not None else 0
    moto.stop()
    return latencies, fsyncs


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request
    with tempfile.TemporaryDirectory() as directory:
        journaled, fsyncs = run(Path(directory))
    plain, _ = run(None)
    writes = WRITERS * WRITES_EACH
    print(f"writers: {WRITERS}")
    print(f"writes: {writes}")
    print(f"fsyncs: {fsyncs}")
    print(f"writes_per_fsync: {writes / max(fsyncs, 1):.2f}")
    print(f"ms_per_write_journaled_median: {statistics.median(journaled) * 1000:.1f}")
    print(f"ms_per_write_unjournaled_median: {statistics.median(plain) * 1000:.1f}")


if __name__ == "__main__":
    main()
