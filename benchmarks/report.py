"""DynamoDB items read to build the daily report of a day of 1,000 sessions with their messages,
first with nothing else stored, then with 100,000 sessions on other days.

A report reads its day through time-keyed keys only (``by_day``, the day's activity partitions,
each session's messages), so the items read per session of the day must not grow with what other
days hold. Data is written with BatchWriteItem directly (the services would take hours on moto).

Prints per run: items read, calls and seconds (on moto, whose Query walks every item: time there is
not DynamoDB's), items read per session of the day; last ``items_read_ratio`` (with / without,
target: at most 1.05).
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

from _harness import DynamoCounter, create_tables, start_backend

DAY = date(2026, 11, 25)
SESSIONS = 1_000
MESSAGES_PER_SESSION = 4
OTHER_SESSIONS = 100_000
OTHER_DAYS = 100


def _s(value: str) -> dict:
    return {"S": value}


def _n(value: float) -> dict:
    return {"N": str(value)}


def day_items(day: date, count: int, prefix: str, with_details: bool) -> dict[str, list[dict]]:
    """``count`` ended sessions of ``day``; ``with_details``: their activity (assigned, ended) and
    messages too. Other days get sessions only: their activity and messages live under keys a
    report never reads (their own day's partitions, their own session ids), and moto, whose Query
    walks every item of a table, would take hours over them."""
    from chalicelib import clock
    from chalicelib.models.activity import session_bucket, session_shard

    items: dict[str, list[dict]] = {"sessions": [], "activity": [], "messages": []}
    base = datetime.combine(day, datetime.min.time(), UTC)
    for i in range(count):
        sid = f"s_{prefix}_{day.isoformat()}_{i:06d}"
        start = base + timedelta(seconds=(i * 86_000) // max(count, 1))
        created, assigned, ended = (clock.iso(start), clock.iso(start + timedelta(seconds=30)),
                                    clock.iso(start + timedelta(seconds=600)))
        agent = f"a_bench_{i % 20:02d}"
        items["sessions"].append({
            "session_id": _s(sid), "visitor_id": _s(f"v_{sid}"), "status": _s("ended"),
            "created_at": _s(created), "created_day": _s(day.isoformat()), "queued_at": _s(created),
            "assigned_at": _s(assigned), "ended_at": _s(ended), "end_reason": _s("ended_by_visitor"),
            "agent_id": _s(agent), "agent_name": _s(agent), "rating": _n(1 + i % 5),
            "message_count": _n(MESSAGES_PER_SESSION), "transfer_count": _n(0)})
        if not with_details:
            continue
        bucket = session_bucket(day.isoformat(), session_shard(sid))
        for kind, at in (("assigned", assigned), ("ended", ended)):
            items["activity"].append({"bucket": _s(bucket), "event_key": _s(f"{at}#{sid}#{kind}"),
                                      "kind": _s(kind), "at": _s(at), "session_id": _s(sid),
                                      "agent_id": _s(agent), "expires_at": _n(4_000_000_000)})
        for m in range(MESSAGES_PER_SESSION):
            at = clock.iso(start + timedelta(seconds=40 + 60 * m))
            sender = "visitor" if m % 2 == 0 else "agent"
            items["messages"].append({
                "session_id": _s(sid), "message_id": _s(f"{at}{m}"), "sender_type": _s(sender),
                "sender_id": _s(agent if sender == "agent" else f"v_{sid}"), "text": _s("hello"),
                "created_at": _s(at), "expires_at": _n(4_000_000_000)})
    return items


def batch_write(items: dict[str, list[dict]]) -> None:
    import boto3

    from chalicelib.config import get_config

    client = boto3.client("dynamodb")
    for key, rows in items.items():
        table = get_config().table_name(key)
        for start in range(0, len(rows), 25):
            pending = {table: [{"PutRequest": {"Item": row}} for row in rows[start:start + 25]]}
            while pending:
                pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def measure(counter: DynamoCounter) -> dict[str, float]:
    from chalicelib.services.analytics import reports

    with counter:
        started = time.perf_counter()
        body = reports.generate_report(DAY)
        elapsed = time.perf_counter() - started
    assert body["overall"]["sessions_started"] == SESSIONS, body["overall"]["sessions_started"]
    assert body["overall"]["messages_visitor"] == SESSIONS * MESSAGES_PER_SESSION // 2
    return {"items": counter.items_read, "calls": counter.total_calls, "seconds": elapsed}


def main() -> None:
    start_backend()
    create_tables()
    counter = DynamoCounter()
    batch_write(day_items(DAY, SESSIONS, "day", with_details=True))
    alone = measure(counter)
    for n in range(OTHER_DAYS):
        other = DAY - timedelta(days=n + 1) if n % 2 == 0 else DAY + timedelta(days=n + 1)
        batch_write(day_items(other, OTHER_SESSIONS // OTHER_DAYS, "other", with_details=False))
    crowded = measure(counter)
    for label, r in (("alone", alone), ("with_100k_other_sessions", crowded)):
        print(f"{label}_items_read: {r['items']}")
        print(f"{label}_calls: {r['calls']}")
        print(f"{label}_seconds_on_moto: {r['seconds']:.2f}")
        print(f"{label}_items_read_per_session: {r['items'] / SESSIONS:.3f}")
    print(f"items_read_ratio: {crowded['items'] / alone['items']:.3f}")


if __name__ == "__main__":
    main()
