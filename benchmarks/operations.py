"""What operations add to each request, counted in DynamoDB calls.

- one WebSocket frame (a ``ping``, through the real ``$default`` handler): every call it makes, the
  writes to ``ws_stats`` (the frame and its reply are counted in one write), and the reads of the
  user's token generation with the revocation cache warm and cold;
- the REST authorizer: DynamoDB calls per authorised request, warm and cold;
- ``GET /api/stats/websocket``: the calls one report costs.

Headline (last line): ``stats_writes_per_frame``, expected 1.
"""

from __future__ import annotations

import json
import time
from typing import Any

from _harness import DynamoCounter, create_tables, start_backend

FRAMES = 20


class GenerationReads:
    """GetItems on the agents table: the revocation check (the heartbeat is an UpdateItem)."""

    def __init__(self) -> None:
        from chalicelib.models import AgentModel

        self.count = 0
        AgentModel._get_connection().connection.client.meta.events.register(
            "after-call.dynamodb.GetItem", self._seen)

    def _seen(self, **_: Any) -> None:
        self.count += 1


class FrameEvent:
    """The parts of Chalice's WebSocket event the handler reads."""

    def __init__(self, connection_id: str, body: str) -> None:
        self.connection_id = connection_id
        self.body = body

    def to_dict(self) -> dict[str, Any]:
        return {"requestContext": {"connectionId": self.connection_id, "domainName": "", "stage": "api"}}


class AuthRequest:
    def __init__(self, token: str) -> None:
        self.token = f"Bearer {token}"
        self.method_arn = "arn:aws:execute-api:us-east-1:1:api/api/GET/api/agents/me"


def per_frame(counter: DynamoCounter, reads: GenerationReads, connection_id: str,
              cold: bool) -> tuple[float, float, float, float]:
    from chalicelib.services import revocation
    from chalicelib.ws import handlers

    calls, stats, generation_reads, elapsed = [], [], [], []
    for _ in range(FRAMES):
        if cold:
            revocation.clear_cache()
        before = reads.count
        with counter:
            started = time.perf_counter()
            handlers.handle_message(FrameEvent(connection_id, json.dumps({"action": "ping"})))
            elapsed.append(time.perf_counter() - started)
        calls.append(counter.total_calls)
        stats.append(counter.by_table["ws_stats"])
        generation_reads.append(reads.count - before)
    n = len(calls)
    return sum(calls) / n, sum(stats) / n, sum(generation_reads) / n, sum(elapsed) / n * 1000


def authorizer_calls(counter: DynamoCounter, token: str, cold: bool) -> float:
    from chalicelib.api import auth_guard
    from chalicelib.services import revocation

    calls = []
    for _ in range(FRAMES):
        if cold:
            revocation.clear_cache()
        with counter:
            auth_guard._auth_response(AuthRequest(token), ("agent",))
        calls.append(counter.total_calls)
    return sum(calls) / len(calls)


def main() -> None:
    start_backend()
    create_tables()
    from chalicelib.services import agents, connections, tokens, wsstats
    from chalicelib.services.tokens import Principal

    agent = agents.create_agent("bench-ops", "password123", "Bench Ops")
    principal = Principal(agent.agent_id, "agent", "agent", "Bench Ops")
    token, _ = tokens.issue(principal)
    connections.register("opsconn=", principal, "127.0.0.1", "bench")
    from chalicelib.ws import actions

    actions.on_registered(principal, "opsconn=")  # the owner's socket set, as $connect does
    counter = DynamoCounter()
    reads = GenerationReads()
    per_frame(counter, reads, "opsconn=", cold=False)  # warm the clients and the rate-limit window

    warm_calls, warm_stats, warm_reads, warm_ms = per_frame(counter, reads, "opsconn=", cold=False)
    cold_calls, _, cold_reads, cold_ms = per_frame(counter, reads, "opsconn=", cold=True)
    print(f"frame_calls_warm: {warm_calls:.2f}")
    print(f"frame_ms_warm: {warm_ms:.2f}")
    print(f"frame_calls_cold_cache: {cold_calls:.2f}")
    print(f"frame_ms_cold_cache: {cold_ms:.2f}")
    print(f"generation_reads_per_frame_warm: {warm_reads:.2f}")
    print(f"generation_reads_per_frame_cold: {cold_reads:.2f}")
    print(f"authorizer_calls_warm: {authorizer_calls(counter, token, cold=False):.2f}")
    print(f"authorizer_calls_cold_cache: {authorizer_calls(counter, token, cold=True):.2f}")
    with counter:
        wsstats.report()
    print(f"stats_report_calls: {counter.total_calls}")
    print(f"stats_writes_per_frame: {warm_stats:.2f}")


if __name__ == "__main__":
    main()
