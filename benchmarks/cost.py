"""Dollars per million customer messages, from what one message measurably costs, beside the AWS
sample chat design that Scans every connection per message.

Measured here, through the real WebSocket handler (``fanout.Conversation``: an API Gateway event
in, frames out): per customer message, the DynamoDB read and write request units
(``_harness.DynamoCounter``'s estimates), the frames posted, and the handler's duration (on moto,
in this process: an upper bound of a Lambda's, which talks to DynamoDB in the same Region). Also
the time of one post to ``@connections`` (the local sink).

Priced (on demand, us-east-1, x86; ``PRICES``) per customer message:
- kefu: one Lambda request of the measured duration at the configured memory; the measured request
  units; one WebSocket message in and the frames posted out;
- the sample (aws-samples/simple-websockets-chat-app, ``sendmessage``): one Lambda request, one
  eventually consistent Scan of the connections table (every connection online, ``SAMPLE_ITEM_BYTES``
  each) and a post to every connection, ``SDK_SOCKETS`` posts in flight (the Node SDK's default),
  each as long as measured here;
- both: connection minutes, assuming every customer online sends one message a minute and has one
  socket open, and one agent console per ``CUSTOMERS_PER_AGENT`` customers.

At 10 and 10,000 customers online. Prints the inputs, the prices with where and when they were
read, and per design and size ``usd_per_million_messages``.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from _harness import DynamoCounter, Gateway, create_tables, posts, sim_mode, start_backend

from benchmarks.fanout import Conversation, measure  # noqa: E402 - after _harness fixed sys.path

PRICES = {  # USD, us-east-1, on demand
    "dynamodb_write_request_unit": 0.625 / 1e6,
    "dynamodb_read_request_unit": 0.125 / 1e6,
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second": 0.0000166667,  # x86
    "websocket_message": 1.00 / 1e6,  # first billion a month, per 32 KB
    "websocket_connection_minute": 0.25 / 1e6,
}
PRICES_READ = ("2026-12-03, the public AWS pricing pages for DynamoDB on-demand (after the November 2024 "
               "reduction), Lambda, and API Gateway WebSocket APIs, as quoted by third-party copies "
               "(aws.amazon.com itself was not reachable from this machine)")
ONLINE = (10, 10_000)
SENDS = 50  # within the product's rate limit of 60 frames in 10 s
ROUNDS = 4
CUSTOMERS_PER_AGENT = 10
MESSAGES_PER_CUSTOMER_MINUTE = 1.0
SAMPLE_ITEM_BYTES = 40  # {"connectionId": "<16 characters>="}: name and value
SDK_SOCKETS = 50
SCAN_PAGE_BYTES = 1024 * 1024


def lambda_memory_gb() -> float:
    config = json.loads((Path(__file__).resolve().parent.parent / ".chalice" / "config.json").read_text())
    return config["lambda_memory_size"] / 1024


def post_ms(count: int = 50) -> float:
    """One post to ``@connections`` (the local sink), as the handler makes it."""
    from chalicelib import push

    started = time.perf_counter()
    for i in range(count):
        push.deliver(f"cost{i:04d}=", {"type": "ping"})
    return (time.perf_counter() - started) * 1000 / count


def connection_minutes_per_message() -> float:
    return (1 + 1 / CUSTOMERS_PER_AGENT) / MESSAGES_PER_CUSTOMER_MINUTE


def usd(reads: float, writes: float, lambda_ms: float, ws_messages: float) -> float:
    """One customer message's cost."""
    return (reads * PRICES["dynamodb_read_request_unit"] + writes * PRICES["dynamodb_write_request_unit"]
            + PRICES["lambda_request"] + lambda_ms / 1000 * lambda_memory_gb() * PRICES["lambda_gb_second"]
            + ws_messages * PRICES["websocket_message"]
            + connection_minutes_per_message() * PRICES["websocket_connection_minute"])


def sample_cost(online: int, base_ms: float, one_post_ms: float) -> float:
    connections = online + math.ceil(online / CUSTOMERS_PER_AGENT)
    scanned = connections * SAMPLE_ITEM_BYTES
    pages = max(1, math.ceil(scanned / SCAN_PAGE_BYTES))
    reads = max(pages * 0.5, math.ceil(scanned / 4096) * 0.5)  # eventually consistent
    lambda_ms = base_ms + math.ceil(connections / SDK_SOCKETS) * one_post_ms
    return usd(reads, 0, lambda_ms, 1 + connections)


def main() -> None:
    start_backend()
    os.environ.update({"KEFU_WS_RATE_LIMIT": "60", "KEFU_WS_RATE_WINDOW": "10"})  # the product's own
    create_tables()
    talk = Conversation(Gateway())
    counter = DynamoCounter()
    for _ in range(3):  # a warm container, as for every message but a cold start's
        talk.send()
    before = posts.count
    rounds = []
    for _ in range(ROUNDS):  # the simulator's faults (a retried write costs again) averaged over many
        time.sleep(10)  # a fresh rate-limit window
        rounds.append(measure(counter, talk.send, SENDS))
    frame = {name: sum(r[name] for r in rounds) / ROUNDS for name in rounds[0]}
    frames_out = (posts.count - before) / (SENDS * ROUNDS)
    one_post = post_ms()
    print(f"sim_mode: {sim_mode()}")
    print(f"prices_read: {PRICES_READ}")
    for name, price in PRICES.items():
        print(f"price_{name}_usd: {price:.10g}")
    print(f"lambda_memory_gb: {lambda_memory_gb():.3f}")
    print(f"read_units_per_message: {frame['reads']:.2f}")
    print(f"write_units_per_message: {frame['writes']:.2f}")
    print(f"frames_posted_per_message: {frames_out:.2f}")
    print(f"handler_ms_per_message_on_moto: {frame['ms']:.1f}")
    print(f"post_ms_on_the_local_sink: {one_post:.2f}")
    print(f"connection_minutes_per_message: {connection_minutes_per_message():.2f}")
    kefu = usd(frame["reads"], frame["writes"], frame["ms"], 1 + frames_out)
    for online in ONLINE:
        # kefu's per-message work does not grow with who else is online (benchmarks/fanout.py).
        print(f"online_{online}_kefu_usd_per_million_messages: {kefu * 1e6:.2f}")
        print(f"online_{online}_aws_sample_usd_per_million_messages: "
              f"{sample_cost(online, frame['ms'], one_post) * 1e6:.2f}")


if __name__ == "__main__":
    main()
