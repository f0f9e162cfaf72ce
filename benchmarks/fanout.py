"""Fan-out cost of one ``send_message``: with 10 and with 10,000 other connections and sessions
stored. Recipients are found by Query on the session's participants and their connections, so
the calls and the items DynamoDB reads must not grow with everyone else online.

Prints times and counts for both sizes, then ``calls_ratio`` and ``items_read_ratio``
(10,000 / 10), both expected to be 1.00; the last line is the headline.
"""

from __future__ import annotations

import time

from _harness import DynamoCounter, create_tables, sim_mode, start_backend, wait_for_indexes

SIZES = (10, 10_000)
SENDS = 5


def seed_others(count: int, start: int) -> None:
    """``count`` other visitors, each with a connection and an open session."""
    from chalicelib import clock
    from chalicelib.models import ConnectionModel, SessionModel

    now = clock.iso()
    with ConnectionModel.batch_write() as connections, SessionModel.batch_write() as sessions:
        for i in range(start, start + count):
            visitor = f"v_other_{i:06d}"
            connections.save(ConnectionModel(f"conn{i:06d}=", user_id=visitor, user_type="visitor", role="visitor",
                                             connected_at=now, last_seen_at=clock.epoch(),
                                             expires_at=int(clock.epoch()) + 7200))
            sessions.save(SessionModel(f"s_other_{i:06d}", visitor_id=visitor, status="queued", created_at=now,
                                       created_day=now[:10]))


def conversation():
    """An agent and a visitor in an active session, each with one connection."""
    from chalicelib.services import agents, assignment, chat, connections
    from chalicelib.services.tokens import Principal

    agent = agents.create_agent("bench-agent", "password123", "Bench Agent", max_concurrent=5)
    assignment.agent_heartbeat(agent.agent_id)
    assignment.set_status(agent.agent_id, "online")
    visitor = Principal("v_bench", "visitor", "visitor", "Bench Visitor")
    agent_principal = Principal(agent.agent_id, "agent", "agent", "Bench Agent")
    from chalicelib.ws import actions

    for connection_id, principal in (("visitorconn=", visitor), ("agentconn=", agent_principal)):
        connections.register(connection_id, principal, "127.0.0.1", "bench")
        actions.on_registered(principal, connection_id)  # the owner's socket set, as $connect does
    wait_for_indexes()  # the agent is in the available index before the visitor asks
    state = chat.start_session(visitor, "bench")
    assert state.session.status == "active", state.session.status

    # A socket's first frame opens its rate-limit window (one extra write, once per window):
    # measure the steady state, the same for both sizes.
    actions.on_activity(visitor, "visitorconn=")
    return visitor, state.session.session_id


def measure(counter: DynamoCounter, visitor, session_id: str, label: str) -> tuple[float, float, float]:
    from chalicelib.services import chat
    from chalicelib.ws import actions

    calls, items, elapsed = [], [], []
    for n in range(SENDS):
        with counter:
            started = time.perf_counter()
            actions.on_activity(visitor, "visitorconn=")
            chat.send_message(visitor, session_id, f"{label}-{n}", "hello", exclude_connection="visitorconn=")
            elapsed.append(time.perf_counter() - started)
        calls.append(counter.total_calls)
        items.append(counter.items_read)
    return sum(calls) / SENDS, sum(items) / SENDS, sum(elapsed) / SENDS * 1000


def main() -> None:
    start_backend()
    create_tables()
    visitor, session_id = conversation()
    counter = DynamoCounter()
    print(f"sim_mode: {sim_mode()}")
    results = {}
    seeded = 0
    for size in SIZES:
        seed_others(size - seeded, seeded)
        wait_for_indexes()
        seeded = size
        results[size] = measure(counter, visitor, session_id, f"size{size}")
        calls, items, ms = results[size]
        print(f"others_{size}_calls_per_send: {calls:.2f}")
        print(f"others_{size}_items_read_per_send: {items:.2f}")
        print(f"others_{size}_ms_per_send_on_moto: {ms:.1f}")
    small, large = results[SIZES[0]], results[SIZES[-1]]
    print(f"calls_ratio: {large[0] / small[0]:.2f}")
    print(f"items_read_ratio: {large[1] / small[1]:.2f}")


if __name__ == "__main__":
    main()
