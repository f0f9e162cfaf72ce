"""Uncontended assignment through the service layer with 50 and with 500 online agents.

Choosing the least-loaded agent reads the sparse ``available`` index (first page only), so the
calls and the items read per assignment must not grow with the number of agents. Counted: the
calls that choose and commit an assignment (agents, sessions, assignments, counters tables and
the transaction); the two connection lookups that tell both parties (fan-out, measured by
``fanout.py``) and the activity-log write analytics needs (one PutItem) are printed separately.

Prints per size: assignments per second (on moto), calls and items read per assignment; then
``calls_per_assignment`` (target: at most 3) and, last, ``items_read_ratio`` (500 / 50, at most 1.0).
"""

from __future__ import annotations

import time

from _harness import DynamoCounter, create_tables, sim_mode, start_backend, wait_for_indexes

SIZES = (50, 500)
ASSIGNMENTS = 40
CAPACITY = 10


def seed_agents(count: int, start: int) -> None:
    from chalicelib import clock
    from chalicelib.models import AgentModel
    from chalicelib.models.agent import AVAILABLE_POOL, load_key
    from chalicelib.services import passwords

    password_hash = passwords.hash_password("not-used-by-the-benchmark")
    now = clock.iso()
    with AgentModel.batch_write() as batch:
        for i in range(start, start + count):
            agent_id = f"a_bench_{i:05d}"
            batch.save(AgentModel(agent_id, username=f"bench{i:05d}", password_hash=password_hash,
                                  display_name=f"Agent {i}", role="agent", status="online", max_concurrent=CAPACITY,
                                  active_count=0, heartbeat_at=clock.epoch(), pool=AVAILABLE_POOL,
                                  load_key=load_key(0, CAPACITY, None, agent_id), created_at=now))


def new_session(n: int):
    from chalicelib import clock
    from chalicelib.models import SessionModel

    now = clock.iso()
    session = SessionModel(f"s_bench_{n:06d}", visitor_id=f"v_bench_{n:06d}", status="queued",
                           created_at=now, created_day=now[:10], queued_at=now)
    session.save()
    return session


def measure(counter: DynamoCounter, label: int, offset: int) -> dict[str, float]:
    from chalicelib.services import assignment

    sessions = [new_session(offset + n) for n in range(ASSIGNMENTS)]
    core_calls = push_calls = log_writes = items = 0
    elapsed = 0.0
    for session in sessions:
        with counter:
            started = time.perf_counter()
            outcome = assignment.assign_session(session)
            elapsed += time.perf_counter() - started
        assert outcome is not None and outcome.is_assigned, "an agent with room should be found"
        push_calls += counter.by_table["connections"]
        log_writes += counter.by_table["activity"]
        core_calls += counter.total_calls - counter.by_table["connections"] - counter.by_table["activity"]
        items += counter.items_read
    return {
        "per_second": ASSIGNMENTS / elapsed,
        "calls": core_calls / ASSIGNMENTS,
        "push_calls": push_calls / ASSIGNMENTS,
        "log_writes": log_writes / ASSIGNMENTS,
        "items": items / ASSIGNMENTS,
    }


def main() -> None:
    start_backend()
    create_tables()
    counter = DynamoCounter()
    print(f"sim_mode: {sim_mode()}")
    results = {}
    seeded = 0
    for index, size in enumerate(SIZES):
        seed_agents(size - seeded, seeded)
        wait_for_indexes()
        seeded = size
        results[size] = measure(counter, size, index * 10_000)
        r = results[size]
        print(f"agents_{size}_assignments_per_second_on_moto: {r['per_second']:.1f}")
        print(f"agents_{size}_calls_per_assignment: {r['calls']:.2f}")
        print(f"agents_{size}_push_lookups_per_assignment: {r['push_calls']:.2f}")
        print(f"agents_{size}_activity_log_writes_per_assignment: {r['log_writes']:.2f}")
        print(f"agents_{size}_items_read_per_assignment: {r['items']:.2f}")
    print(f"calls_per_assignment: {max(r['calls'] for r in results.values()):.2f}")
    print(f"items_read_ratio: {results[SIZES[-1]]['items'] / results[SIZES[0]]['items']:.2f}")


if __name__ == "__main__":
    main()
