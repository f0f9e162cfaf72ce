"""Uncontended assignment through the service layer with 50 and with 500 online agents.

One assignment, everything included: choosing the agent (the ``available`` index), the commit,
telling both parties (their open sockets looked up and posted to), the activity record analytics
needs, and the statistics of the pushes. Every DynamoDB call made on the way is counted
(``DynamoCounter``, from botocore's own events), whatever table it goes to. Agents and visitors
are seeded as the product leaves them: each with an open socket on their own item, each waiting
session with the sockets ``start_session`` recorded on it.

Choosing the least-loaded agent reads the sparse ``available`` index (first page only), so the
calls and the items read per assignment must not grow with the number of agents.

Prints per size: assignments per second (on moto), calls, items read, read and write units per
assignment, and the calls answered with a simulated fault (retried); then ``items_read_ratio``
(500 / 50, at most 1.0) and, last, the headline ``calls_per_assignment`` (the larger of the two
sizes, at most 3).
"""

from __future__ import annotations

import time

from _harness import DynamoCounter, create_tables, posts, seeding, sim_mode, start_backend, wait_for_indexes

SIZES = (50, 500)
ASSIGNMENTS = 40
CAPACITY = 10


def seed_agents(count: int, start: int) -> None:
    """Online agents with room, each with one open socket (on their item and as a record)."""
    from chalicelib import clock
    from chalicelib.models import AgentModel, ConnectionModel
    from chalicelib.models.agent import AVAILABLE_POOL, load_key
    from chalicelib.services import passwords

    password_hash = passwords.hash_password("not-used-by-the-benchmark")
    now = clock.iso()
    with AgentModel.batch_write() as agents, ConnectionModel.batch_write() as connections:
        for i in range(start, start + count):
            agent_id = f"a_bench_{i:05d}"
            socket = f"agentsock{i:05d}="
            agents.save(AgentModel(agent_id, username=f"bench{i:05d}", password_hash=password_hash,
                                   display_name=f"Agent {i}", role="agent", status="online", max_concurrent=CAPACITY,
                                   active_count=0, heartbeat_at=clock.epoch(), pool=AVAILABLE_POOL,
                                   load_key=load_key(0, CAPACITY, None, agent_id), created_at=now,
                                   socket_ids={socket}))
            connections.save(ConnectionModel(socket, user_id=agent_id, user_type="agent", role="agent",
                                             connected_at=now, last_seen_at=clock.epoch(),
                                             expires_at=int(clock.epoch()) + 7200))
    from chalicelib.models import CounterModel
    from chalicelib.services.assignment.roster import ROSTER

    ids = {f"a_bench_{i:05d}" for i in range(start, start + count)}
    CounterModel(ROSTER).update(actions=[CounterModel.members.add(ids)])  # online, as a status change records


def seed_waiting(offset: int) -> list:
    """``ASSIGNMENTS`` waiting customers: a visitor with an open socket, and a queued session that
    records that socket (as ``start_session`` leaves it)."""
    from chalicelib import clock
    from chalicelib.models import ConnectionModel, CounterModel, SessionModel, VisitorModel
    from chalicelib.models.counter import QUEUE_COUNTER
    from chalicelib.models.session import QUEUE_POOL

    now = clock.iso()
    sessions = []
    with VisitorModel.batch_write() as visitors, ConnectionModel.batch_write() as connections, \
            SessionModel.batch_write() as batch:
        for n in range(offset, offset + ASSIGNMENTS):
            visitor_id, socket = f"v_bench_{n:06d}", f"visitorsock{n:06d}="
            visitors.save(VisitorModel(visitor_id, name=f"Visitor {n}", created_at=now, socket_ids={socket}))
            connections.save(ConnectionModel(socket, user_id=visitor_id, user_type="visitor", role="visitor",
                                             connected_at=now, last_seen_at=clock.epoch(),
                                             expires_at=int(clock.epoch()) + 7200))
            session = SessionModel(f"s_bench_{n:06d}", visitor_id=visitor_id, visitor_name=f"Visitor {n}",
                                   status="queued", created_at=now, created_day=now[:10], queued_at=now,
                                   queue_pool=QUEUE_POOL, queue_ticket=n + 1, version=1,
                                   visitor_sockets={socket})
            batch.save(session)
            sessions.append(session)
    CounterModel(QUEUE_COUNTER, issued=offset + ASSIGNMENTS, length=ASSIGNMENTS).save()  # as enqueue leaves it
    return sessions


def measure(counter: DynamoCounter, offset: int) -> dict[str, float]:
    from chalicelib.models import SessionModel
    from chalicelib.services import assignment

    with seeding():
        seed_waiting(offset)
    # The dispatcher hands ``assign_session`` the session as its consistent read found it.
    sessions = [SessionModel.get(f"s_bench_{n:06d}", consistent_read=True)
                for n in range(offset, offset + ASSIGNMENTS)]
    totals = {"calls": 0.0, "items": 0.0, "reads": 0.0, "writes": 0.0, "faults": 0.0, "posts": 0.0}
    elapsed = 0.0
    for session in sessions:
        posts_before = posts.count
        with counter:
            started = time.perf_counter()
            outcome = assignment.assign_session(session)
            elapsed += time.perf_counter() - started
        assert outcome is not None and outcome.is_assigned, "an agent with room should be found"
        totals["calls"] += counter.total_calls
        totals["items"] += counter.items_read
        totals["reads"] += counter.read_units
        totals["writes"] += counter.write_units
        totals["faults"] += counter.faults
        totals["posts"] += posts.count - posts_before
    result = {name: value / ASSIGNMENTS for name, value in totals.items()}
    result["per_second"] = ASSIGNMENTS / elapsed
    return result


def main() -> None:
    start_backend()
    create_tables()
    counter = DynamoCounter()
    print(f"sim_mode: {sim_mode()}")
    results = {}
    seeded = 0
    for index, size in enumerate(SIZES):
        with seeding():
            seed_agents(size - seeded, seeded)
        wait_for_indexes()
        seeded = size
        r = results[size] = measure(counter, index * 10_000)
        print(f"agents_{size}_assignments_per_second_on_moto: {r['per_second']:.1f}")
        print(f"agents_{size}_calls_per_assignment: {r['calls']:.2f}")
        print(f"agents_{size}_faults_retried_per_assignment: {r['faults']:.2f}")
        print(f"agents_{size}_items_read_per_assignment: {r['items']:.2f}")
        print(f"agents_{size}_read_units_per_assignment: {r['reads']:.2f}")
        print(f"agents_{size}_write_units_per_assignment: {r['writes']:.2f}")
        print(f"agents_{size}_posts_per_assignment: {r['posts']:.2f}")
    print(f"items_read_ratio: {results[SIZES[-1]]['items'] / results[SIZES[0]]['items']:.2f}")
    print(f"calls_per_assignment: {max(r['calls'] for r in results.values()):.2f}")


if __name__ == "__main__":
    main()
