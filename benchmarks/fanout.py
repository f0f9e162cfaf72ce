"""One customer message through the real WebSocket handler, everything included.

An API Gateway ``$default`` event carrying ``send_message`` goes into the deployed handler
(``app.ws_message``: Chalice's wrapper, the middleware, ``ws.handlers``), frames come out through
``@connections`` (a sink that keeps them): the ``message.ack`` to the sender and the
``message.new`` to the agent are checked, so a frame that did nothing cannot look cheap. Every
DynamoDB call made on the way is counted (who sent it, revocation, rate limit, heartbeat, the
socket back on its owner's set, idempotency, the session, the commit, the assignment's expiry,
the recipients' sockets, statistics and request metrics), from botocore's own events.

The conversation runs as in production: an agent and a visitor who signed up, connected through
``$connect`` with their tokens, the visitor started the session with a frame; the product's rate
limit (60 frames per 10 s per user) is in force. Frames are sent back to back, a few a second as
one container on moto serves them; statistics are flushed at most once a second per container, so
a frame alone in its second also pays the flush: ``sparse`` measures that worst case.

With 10 and with 10,000 other connections and sessions stored: the calls and the items read
must not grow with everyone else online.

Prints per size: calls, items read, read and write units, simulated faults retried and
milliseconds per frame (on moto); the same for an agent's reply and a ``ping``; the sparse figure;
``calls_ratio`` and ``items_read_ratio`` (10,000 / 10, expected 1.00); last, the headline
``calls_per_send_frame`` (the larger size, at most 5).
"""

from __future__ import annotations

import os
import time

from _harness import (
    DynamoCounter,
    Gateway,
    create_tables,
    posts,
    seeding,
    sim_mode,
    start_backend,
    wait_for_indexes,
)

SIZES = (10, 10_000)
SENDS = 20
SPARSE_SENDS = 3


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


class Conversation:
    """An agent and a visitor in an active session, each on one socket opened through ``$connect``."""

    def __init__(self, gateway: Gateway) -> None:
        from chalicelib.services import agents, assignment, visitors

        self.gateway = gateway
        agent = agents.create_agent("bench-agent", "password123", "Bench Agent", max_concurrent=5)
        self.agent_socket = gateway.connect(agents.authenticate("bench-agent", "password123")["token"])
        assignment.set_status(agent.agent_id, "online")
        self.agent_id = agent.agent_id
        self.visitor_socket = gateway.connect(visitors.sign_up("Bench Visitor", None)["token"])
        wait_for_indexes()  # the agent is in the available index before the visitor asks
        posts.keep(self.visitor_socket, self.agent_socket)
        gateway.send(self.visitor_socket, {"action": "start_session", "topic": "bench"})
        started = [f for f in posts.frames[self.visitor_socket] if f.get("type") == "session.assigned"]
        assert started, f"the session should start assigned: {posts.frames[self.visitor_socket]}"
        self.session_id = started[-1]["session_id"]
        self.sent = 0

    def send(self, from_visitor: bool = True) -> None:
        """One ``send_message`` frame; checks the sender's ack and the other party's copy."""
        self.sent += 1
        client_msg_id = f"bench-{self.sent}"
        sender, receiver = ((self.visitor_socket, self.agent_socket) if from_visitor
                            else (self.agent_socket, self.visitor_socket))
        posts.keep(sender, receiver)
        self.gateway.send(sender, {"action": "send_message", "session_id": self.session_id,
                                   "client_msg_id": client_msg_id, "text": "hello"})
        acks = [f for f in posts.frames[sender] if f.get("type") == "message.ack"]
        copies = [f for f in posts.frames[receiver] if f.get("type") == "message.new"]
        assert acks and acks[-1]["client_msg_id"] == client_msg_id, posts.frames[sender]
        assert copies and copies[-1]["message"]["client_msg_id"] == client_msg_id, posts.frames[receiver]

    def ping(self) -> None:
        posts.keep(self.visitor_socket)
        self.gateway.send(self.visitor_socket, {"action": "ping"})
        assert any(f.get("type") == "pong" for f in posts.frames[self.visitor_socket])


def measure(counter: DynamoCounter, frame, count: int, pause: float = 0.0) -> dict[str, float]:
    totals = {"calls": 0.0, "items": 0.0, "reads": 0.0, "writes": 0.0, "faults": 0.0, "ms": 0.0}
    for _ in range(count):
        if pause:
            time.sleep(pause)
        with counter:
            started = time.perf_counter()
            frame()
            totals["ms"] += (time.perf_counter() - started) * 1000
        totals["calls"] += counter.total_calls
        totals["items"] += counter.items_read
        totals["reads"] += counter.read_units
        totals["writes"] += counter.write_units
        totals["faults"] += counter.faults
    return {name: value / count for name, value in totals.items()}


def show(prefix: str, r: dict[str, float]) -> None:
    print(f"{prefix}_calls_per_frame: {r['calls']:.2f}")
    print(f"{prefix}_faults_retried_per_frame: {r['faults']:.2f}")
    print(f"{prefix}_items_read_per_frame: {r['items']:.2f}")
    print(f"{prefix}_read_units_per_frame: {r['reads']:.2f}")
    print(f"{prefix}_write_units_per_frame: {r['writes']:.2f}")
    print(f"{prefix}_ms_per_frame_on_moto: {r['ms']:.1f}")


def main() -> None:
    start_backend()
    # The product's own rate limit (the harness widens it for the service-level benchmarks).
    os.environ.update({"KEFU_WS_RATE_LIMIT": "60", "KEFU_WS_RATE_WINDOW": "10"})
    create_tables()
    gateway = Gateway()
    talk = Conversation(gateway)
    counter = DynamoCounter()
    print(f"sim_mode: {sim_mode()}")
    for _ in range(3):  # the container is warm, as for every message but a cold start's
        talk.send()
    results = {}
    seeded = 0
    for size in SIZES:
        with seeding():
            seed_others(size - seeded, seeded)
        wait_for_indexes()
        time.sleep(10)  # a fresh rate-limit window: the figures are not those of a refused frame
        seeded = size
        results[size] = measure(counter, talk.send, SENDS)
        show(f"others_{size}_visitor_send", results[size])
    show("agent_send", measure(counter, lambda: talk.send(from_visitor=False), 5))
    show("ping", measure(counter, talk.ping, 5))
    sparse = measure(counter, talk.send, SPARSE_SENDS, pause=1.2)
    print(f"sparse_calls_per_send_frame: {sparse['calls']:.2f}")
    small, large = results[SIZES[0]], results[SIZES[-1]]
    print(f"calls_ratio: {large['calls'] / small['calls']:.2f}")
    print(f"items_read_ratio: {large['items'] / small['items']:.2f}")
    print(f"calls_per_send_frame: {large['calls']:.2f}")


if __name__ == "__main__":
    main()
