"""What one queue move costs with 10 and with 1,000 customers waiting.

A move: an agent releases their customer, the freed slot goes to the head of the queue, and every
customer still waiting is told their new position. Each waiting customer has a live connection.
The DynamoDB calls of the whole operation are counted (release, move and announcements); the
posts to the waiting customers are counted apart, since telling N customers their position is N
posts whatever the design. What must not grow with the queue is the DynamoDB work per move.

Between moves the benchmark waits for the backend's index lag (outside the count) and checks that
the head really moved, so a move that did not happen cannot look cheap.

Prints per size: calls, items read, posts and milliseconds (on moto) per move, moves that did not
happen; then ``posts_per_move_1000`` (at most 50), ``calls_per_move_ratio`` (1,000 / 10) and, last,
``items_read_ratio`` (1,000 / 10, at most 1.2); the ratios are ``nan`` when a release moved nobody
(the queue stalled beside a free slot), since such a release is no move.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, where this module's name would
# shadow the standard library's ``queue`` (which urllib3 imports): import from the project root.
_ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "benchmarks"]

import time  # noqa: E402

from benchmarks._harness import (  # noqa: E402
    DynamoCounter,
    posts,
    recreate_tables,
    seeding,
    sim_mode,
    start_backend,
    wait_for_indexes,
)

SIZES = (10, 1_000)
MOVES = 5


def seed_queue(count: int) -> None:
    """``count`` waiting customers, in ticket order, each with a live connection, and the queue
    counter that matches them (as ``enqueue`` leaves it)."""
    from chalicelib import clock
    from chalicelib.models import ConnectionModel, CounterModel, SessionModel
    from chalicelib.models.counter import QUEUE_COUNTER
    from chalicelib.models.session import QUEUE_POOL

    now = clock.iso()
    with ConnectionModel.batch_write() as connections, SessionModel.batch_write() as sessions:
        for ticket in range(1, count + 1):
            visitor = f"v_wait_{ticket:06d}"
            connections.save(ConnectionModel(f"wait{ticket:06d}=", user_id=visitor, user_type="visitor",
                                             role="visitor", connected_at=now, last_seen_at=clock.epoch(),
                                             expires_at=int(clock.epoch()) + 7200))
            sessions.save(SessionModel(f"s_wait_{ticket:06d}", visitor_id=visitor, visitor_name=f"Waiting {ticket}",
                                       status="queued", created_at=now, created_day=now[:10], queued_at=now,
                                       queue_pool=QUEUE_POOL, queue_ticket=ticket,
                                       visitor_sockets={f"wait{ticket:06d}="}))  # as start_session records it
    CounterModel(QUEUE_COUNTER, issued=count, length=count, waiting=set(range(1, count + 1))).save()


def busy_agent() -> tuple[str, str]:
    """An online agent with one slot, holding one customer; returns (agent id, that customer)."""
    from chalicelib.models import SessionModel
    from chalicelib.services import agents, assignment, connections
    from chalicelib.services.tokens import Principal

    agent = agents.create_agent("queue-bench", "password123", "Queue Bench", max_concurrent=1)
    wait_for_indexes()
    # Online as a real agent is: with a console connected and heard from.
    from chalicelib.ws import actions

    principal = Principal(agent.agent_id, "agent", "agent", "Queue Bench")
    connections.register("agentconn=", principal, "127.0.0.1", "bench")
    actions.on_registered(principal, "agentconn=")  # the owner's socket set, as $connect does
    assignment.agent_heartbeat(agent.agent_id)
    assignment.set_status(agent.agent_id, "online")  # takes the head of the queue
    wait_for_indexes()
    held = [s for s in SessionModel.scan(SessionModel.status == "active", consistent_read=True)]
    if not held:
        print("agent_online_took_nobody_until_the_sweep: 1")  # a finding, not a figure: say so
        assignment.cleanup()
        wait_for_indexes()
        held = [s for s in SessionModel.scan(SessionModel.status == "active", consistent_read=True)]
    assert len(held) == 1, f"the agent should hold one customer, holds {len(held)}"
    return agent.agent_id, held[0].visitor_id


def measure(counter: DynamoCounter, size: int) -> dict[str, float]:
    from chalicelib.models import AssignmentModel
    from chalicelib.services import assignment

    recreate_tables()
    with seeding():
        seed_queue(size + MOVES + 1)
    wait_for_indexes()
    agent_id, customer = busy_agent()
    calls = items = posted = missed = 0
    elapsed = 0.0
    for _ in range(MOVES):
        posts_before = posts.count
        with counter:
            started = time.perf_counter()
            assignment.release_customer(customer, ended_by=agent_id)
            elapsed += time.perf_counter() - started
        calls += counter.total_calls
        items += counter.items_read
        wait_for_indexes()  # late announcements land before the next count starts
        posted += posts.count - posts_before
        wait_for_indexes()
        moved = [a for a in AssignmentModel.scan(consistent_read=True) if a.agent_id == agent_id]
        if not moved:
            missed += 1
            assignment.cleanup()  # the backstop moves it, so the next release has someone to free
            wait_for_indexes()
            moved = [a for a in AssignmentModel.scan(consistent_read=True) if a.agent_id == agent_id]
            assert moved, "the queue did not move even after the sweep"
        customer = moved[0].customer_id
    return {"calls": calls / MOVES, "items": items / MOVES, "posts": posted / MOVES,
            "ms": elapsed / MOVES * 1000, "missed": missed}


def main() -> None:
    start_backend()
    counter = DynamoCounter()
    print(f"sim_mode: {sim_mode()}")
    results = {}
    for size in SIZES:
        r = results[size] = measure(counter, size)
        print(f"waiting_{size}_calls_per_move: {r['calls']:.2f}")
        print(f"waiting_{size}_items_read_per_move: {r['items']:.2f}")
        print(f"waiting_{size}_posts_per_move: {r['posts']:.2f}")
        print(f"waiting_{size}_ms_per_move_on_moto: {r['ms']:.1f}")
        print(f"waiting_{size}_moves_missed: {r['missed']}")
    small, large = results[SIZES[0]], results[SIZES[-1]]
    print(f"posts_per_move_1000: {large['posts']:.2f}")
    if any(r["missed"] for r in results.values()):
        # A release that moved nobody costs less than a move: a ratio over such releases would
        # flatter the design. The queue must move on every release for the figure to mean anything.
        print("calls_per_move_ratio: nan")
        print("items_read_ratio: nan")
        return
    print(f"calls_per_move_ratio: {large['calls'] / small['calls']:.2f}")
    print(f"items_read_ratio: {large['items'] / small['items']:.2f}")

if __name__ == "__main__":
    main()
