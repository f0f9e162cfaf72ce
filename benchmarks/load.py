"""Load on the local stack (``make run``) through real sockets, and its assignment rate.

By default the script starts ``python -m devstack --fresh`` itself (own data dir, free ports, the
realistic simulated DynamoDB as ``make run`` has it); ``--url`` measures a stack already running
(its admin's password in ``--admin-password`` or ``KEFU_ADMIN_PASSWORD``; every client comes from
one address, so start it with generous ``KEFU_SIGNUPS_PER_IP`` / ``KEFU_SESSIONS_PER_IP``).

Phases (the defaults; every figure can be changed, see ``--help``):
1. chat: 20 agents (capacity 10) online on their sockets; 200 customers sign up, connect and start
   a conversation, then for 60 s each sends a message every 10 s and their agent answers each one.
2. burst: those conversations end; 200 new customers arrive within 10 s (sign-up, socket, start).
3. quiescence: once no frame is due any more, every message sent is checked: stored exactly once
   (read back through the history API) and delivered exactly once to every socket of its recipient
   (and every other socket of its sender) that stayed open.
4. assignments: once the stack lists no open connection (every ``$disconnect`` of phases 1-3
   handled, so they do not compete with the assignments), the 20 agents go offline; 10 new agents
   with room for 20 each; 200 customers, already connected, ask for an agent 40 at a time.

Prints messages/s, end-to-end delivery p50/p95/p99 (send to the other party's socket), assignment
latency p50/p99 (``start_session`` sent to ``session.assigned`` received), errors, ``lost`` and
``duplicated``, and last ``assignments_per_second_200_vs_10`` (phase 4).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import http.client
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
# benchmarks/queue.py would shadow the standard library's ``queue`` (see _harness.py).
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]

from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

REPLY_TIMEOUT = 30.0  # an ack, a pong or an assignment later than this counts as an error
ATTEMPTS = 3  # a message without an ack is sent again (same client_msg_id), as the protocol asks


@dataclass
class LoadConfig:
    customers: int = 200
    agents: int = 20
    capacity: int = 10
    chat_seconds: float = 60.0
    message_interval: float = 10.0
    burst: int = 200
    burst_seconds: float = 10.0
    assign_customers: int = 200
    assign_agents: int = 10
    assign_concurrency: int = 40
    quiet_seconds: float = 10.0  # quiescence: give up waiting for frames after this long without one
    seed: int = 1


@dataclass
class Report:
    messages: int = 0
    chat_seconds: float = 0.0
    delivery_ms: list[float] = field(default_factory=list)
    assignment_ms: list[float] = field(default_factory=list)
    assign_burst_ms: list[float] = field(default_factory=list)
    assign_burst_seconds: float = 0.0
    assign_burst_customers: int = 0
    assign_burst_cpu_seconds: float | None = None  # the stack's processes, when the script runs it
    errors: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    duplicated: int = 0
    unchecked: int = 0
    refused_429: int = 0  # REST calls refused by a per-address limit, then retried
    problems: list[str] = field(default_factory=list)  # the first lost or duplicated, for a reader

    def note(self, problem: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(problem)

    @property
    def assignments_per_second(self) -> float:
        if not self.assign_burst_seconds:
            return 0.0
        return len(self.assign_burst_ms) / self.assign_burst_seconds

    def lines(self, config: LoadConfig) -> list[str]:
        rate = self.messages / self.chat_seconds if self.chat_seconds else 0.0
        out = [
            f"messages_sent: {self.messages}",
            f"messages_per_second: {rate:.1f}",
            f"delivery_ms_p50: {percentile(self.delivery_ms, 50):.0f}",
            f"delivery_ms_p95: {percentile(self.delivery_ms, 95):.0f}",
            f"delivery_ms_p99: {percentile(self.delivery_ms, 99):.0f}",
            f"burst_assignment_ms_p50: {percentile(self.assignment_ms, 50):.0f}",
            f"burst_assignment_ms_p99: {percentile(self.assignment_ms, 99):.0f}",
            f"errors: {sum(self.errors.values())}" + (f" ({dict(self.errors)})" if self.errors else ""),
            f"rest_429_retried: {self.refused_429}",
            f"lost: {self.lost}",
            f"duplicated: {self.duplicated}",
        ]
        if self.assign_burst_customers:
            label = f"{self.assign_burst_customers}_vs_{config.assign_agents}"
            out += [
                f"assignment_ms_p50_{label}: {percentile(self.assign_burst_ms, 50):.0f}",
                f"assignment_ms_p99_{label}: {percentile(self.assign_burst_ms, 99):.0f}",
                f"assignments_per_second_{label}: {self.assignments_per_second:.1f}",
            ]
            if self.assign_burst_cpu_seconds is not None and self.assign_burst_ms:
                cpu_ms = self.assign_burst_cpu_seconds * 1000 / len(self.assign_burst_ms)
                out.insert(-1, f"stack_cpu_ms_per_assignment_{label}: {cpu_ms:.1f}")
        return out


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


# ---- who talks: sockets and people ------------------------------------------------------------


class Socket:
    """One real WebSocket: a reader that records every frame and wakes whoever waits for it."""

    def __init__(self, load: Load, person: Person, client: ClientConnection) -> None:
        self.load = load
        self.person = person
        self.client = client
        self.key = uuid.uuid4().hex  # the benchmark's name for it (the gateway's id is not needed)
        self.is_open = True
        self._waiters: list[tuple[Any, asyncio.Future[dict[str, Any]]]] = []
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.client:
                self.load.frame_seen()
                frame = json.loads(raw)
                if "type" not in frame:  # the gateway's own answers: throttled, or a handler failed
                    self.load.report.errors[f"gateway: {frame.get('message')}"] += 1
                    continue
                self.load.on_frame(self, frame)
                for waiter in list(self._waiters):
                    matches, future = waiter
                    if not future.done() and matches(frame):
                        future.set_result(frame)
        except ConnectionClosed:
            pass
        finally:
            if self.is_open:
                self.is_open = False
                if not self.load.closing:
                    self.load.report.errors["socket closed by the server"] += 1

    async def send(self, action: str, **fields: Any) -> None:
        await self.client.send(json.dumps({"action": action, **fields}))

    async def wait_for(self, matches: Any, timeout: float = REPLY_TIMEOUT) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        entry = (matches, future)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._waiters.remove(entry)

    async def request(self, action: str, matches: Any, **fields: Any) -> dict[str, Any]:
        """Send a frame and wait for the frame ``matches`` accepts (registered before sending)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        entry = (matches, future)
        self._waiters.append(entry)
        try:
            await self.send(action, **fields)
            return await asyncio.wait_for(future, REPLY_TIMEOUT)
        finally:
            self._waiters.remove(entry)

    async def close(self) -> None:
        self.is_open = False
        await self.client.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@dataclass
class Person:
    kind: str  # "agent" or "visitor"
    user_id: str
    token: str
    source: str  # the address its browser connects from
    sockets: list[Socket] = field(default_factory=list)
    session_id: str | None = None  # a customer's conversation

    def open_sockets(self) -> list[Socket]:
        return [s for s in self.sockets if s.is_open]


@dataclass
class Sent:
    """One chat message as its sender sent it, and where it must arrive."""

    session_id: str
    sender: Person
    started: float
    expected: list[Socket] = field(default_factory=list)
    acked: bool = False


# ---- the load ---------------------------------------------------------------------------------


class Load:
    def __init__(self, rest_url: str, config: LoadConfig, admin_user: str, admin_password: str,
                 say: Any = print, cpu: Any = None) -> None:
        self.say = say
        self.cpu = cpu  # () -> CPU seconds the stack's processes used so far, when known
        self.rest_url = rest_url.rstrip("/")
        self.config = config
        self.admin = (admin_user, admin_password)
        self.report = Report()
        self.rng = random.Random(config.seed)
        self.sent: dict[str, Sent] = {}
        self.received: dict[tuple[str, str], int] = defaultdict(int)  # (client_msg_id, socket key)
        self.people: dict[str, Person] = {}
        self.parties: dict[str, tuple[Person, Person]] = {}  # session id -> (customer, agent)
        self.closing = False
        self.answering = True  # agents answer each customer message until the chat phase ends
        self.in_flight: set[asyncio.Task[None]] = set()  # sends and answers not finished yet
        self.last_frame = time.monotonic()
        self.ws_url = ""
        self.run_id = secrets.token_hex(3)
        parts = urlsplit(self.rest_url)
        self._rest_host, self._rest_port = parts.hostname or "127.0.0.1", parts.port or 80
        self._addresses = 0
        self._admin_token = ""
        self._disconnects_before = 0

    # -- plumbing

    def frame_seen(self) -> None:
        self.last_frame = time.monotonic()

    def new_address(self) -> str:
        """A loopback address of its own for each person: as many customers come from many
        addresses, the stack's per-address limits see each of them apart (Linux routes 127/8)."""
        self._addresses += 1
        n = self._addresses
        return f"127.{1 + n // 65025 % 254}.{1 + n // 255 % 255}.{1 + n % 254}"

    async def rest(self, method: str, path: str, token: str | None = None, source: str = "127.0.0.1",
                   **body: Any) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"} if body else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body else None

        def call() -> tuple[int, dict[str, str], bytes]:
            # A connection per call, from the person's own address (a browser of their own).
            connection = http.client.HTTPConnection(self._rest_host, self._rest_port, timeout=60,
                                                    source_address=(source, 0))
            try:
                connection.request(method, path, body=data, headers=headers)
                response = connection.getresponse()
                return response.status, dict(response.getheaders()), response.read()
            finally:
                connection.close()

        what = f"rest {method} {path.split('/')[2]}"
        for attempt in range(20):
            try:
                status, answer_headers, content = await asyncio.to_thread(call)
            except OSError as e:  # an error all the same, but the run goes on as a browser would
                self.report.errors[f"{what}: {type(e).__name__}"] += 1
                if attempt >= 4:
                    raise RestError(f"{method} {path}: {e}") from e
                await asyncio.sleep(0.5)
                continue
            if status != 429:
                break
            # Clients behind one address meet its limits: a browser waits as told, so does this.
            self.report.refused_429 += 1
            await asyncio.sleep(float(answer_headers.get("Retry-After") or 1) * self.rng.uniform(0.5, 1.5))
        if status >= 400:
            self.report.errors[f"{what}: {status}"] += 1
            raise RestError(f"{method} {path}: {status} {content[:200]!r}")
        return json.loads(content) if content else {}

    async def open_socket(self, person: Person) -> Socket:
        client = await connect(f"{self.ws_url}?token={person.token}", max_size=2 ** 20, ping_interval=None,
                               open_timeout=REPLY_TIMEOUT, close_timeout=5, local_addr=(person.source, 0))
        socket = Socket(self, person, client)
        person.sockets.append(socket)
        return socket

    # -- people

    async def sign_in_admin(self) -> None:
        login = await self.rest("POST", "/api/auth/login", username=self.admin[0], password=self.admin[1])
        self._admin_token = login["token"]
        info = await self.rest("GET", "/api/system/info", self._admin_token)
        self.ws_url = info["websocket_url"]
        self._disconnects_before = await self.disconnects_handled()

    async def disconnects_handled(self) -> int:
        """``$disconnect`` handlers run to their end in the last hour (the stack's own count)."""
        stats = await self.rest("GET", "/api/stats/websocket", self._admin_token)
        return int(stats["windows"]["60m"]["disconnects"])

    async def new_agent(self, capacity: int) -> Person:
        username = f"load{self.run_id}{uuid.uuid4().hex[:8]}"
        password = secrets.token_urlsafe(12)
        await self.rest("POST", "/api/agents", self._admin_token, username=username, password=password,
                        display_name=f"Load {username[-4:]}", role="agent", max_concurrent=capacity)
        source = self.new_address()
        login = await self.rest("POST", "/api/auth/login", source=source, username=username, password=password)
        agent = Person("agent", login["agent"]["agent_id"], login["token"], source)
        self.people[agent.user_id] = agent
        await self.open_socket(agent)
        await self.rest("PUT", "/api/agents/me/status", agent.token, source, status="online")
        return agent

    async def new_customer(self) -> Person:
        source = self.new_address()
        signed = await self.rest("POST", "/api/visitors", source=source, name=f"Load {uuid.uuid4().hex[:6]}")
        customer = Person("visitor", signed["visitor_id"], signed["token"], source)
        self.people[customer.user_id] = customer
        await self.open_socket(customer)
        return customer

    async def start_conversation(self, customer: Person, timings: list[float] | None = None) -> None:
        """``start_session`` until ``session.assigned``; the milliseconds it took go to ``timings``
        (the burst's by default). No assignment in time is an error, and the run goes on."""
        socket = customer.sockets[0]
        started = time.monotonic()
        try:
            await socket.request("start_session", lambda f: f.get("type") == "session.assigned", topic="load")
        except TimeoutError:
            self.report.errors["no assignment in time"] += 1
            return
        (self.report.assignment_ms if timings is None else timings).append((time.monotonic() - started) * 1000)

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)

    # -- frames

    def on_frame(self, socket: Socket, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "error":
            self.report.errors[f"error frame: {frame.get('code')}: {frame.get('message')}"] += 1
        elif kind == "session.assigned":
            self._on_assigned(socket.person, frame)
        elif kind == "message.new":
            message = frame["message"]
            client_msg_id = message.get("client_msg_id") or ""
            self.received[(client_msg_id, socket.key)] += 1
            sent = self.sent.get(client_msg_id)
            if sent is not None and self.received[(client_msg_id, socket.key)] == 1 \
                    and socket.person is not sent.sender:
                self.report.delivery_ms.append((time.monotonic() - sent.started) * 1000)
            if socket.person.kind == "agent" and message["sender"]["type"] == "visitor" \
                    and self.received[(client_msg_id, socket.key)] == 1 and self.answering:
                self.spawn(self._answer(socket.person, message))

    def _on_assigned(self, person: Person, frame: dict[str, Any]) -> None:
        if person.kind == "visitor":
            person.session_id = frame["session_id"]
            agent = self.people.get(frame["agent"]["id"])
            if agent is not None:
                self.parties[frame["session_id"]] = (person, agent)

    async def _answer(self, agent: Person, message: dict[str, Any]) -> None:
        with contextlib.suppress(RestError):
            await self.send_message(agent, message["session_id"], f"r{message['client_msg_id']}",
                                    f"re: {message['text']}")

    async def send_message(self, sender: Person, session_id: str, client_msg_id: str, text: str) -> None:
        sockets = sender.open_sockets()
        if not sockets:
            return
        socket = sockets[0]
        sent = Sent(session_id, sender, time.monotonic())
        self.sent[client_msg_id] = sent
        for _ in range(ATTEMPTS):
            try:
                await socket.request("send_message", lambda f: f.get("type") == "message.ack"
                                     and f.get("client_msg_id") == client_msg_id,
                                     session_id=session_id, client_msg_id=client_msg_id, text=text)
            except TimeoutError:
                self.report.errors["no ack in time (sent again)"] += 1
                continue
            except ConnectionClosed:
                return
            sent.acked = True
            # Where it must arrive: every open socket of the other party, the sender's other sockets.
            recipients = [p for p in self.parties.get(session_id, ()) if p is not sender]
            sent.expected = [s for p in recipients for s in p.open_sockets()] + \
                            [s for s in sender.open_sockets() if s is not socket]
            self.report.messages += 1
            return
        self.report.errors["message never acknowledged"] += 1

    # -- phases

    async def chat(self) -> list[Person]:
        config = self.config
        agents = await gather_limited([self.new_agent(config.capacity) for _ in range(config.agents)], 20)
        await asyncio.sleep(1.5)  # online for longer than the index lag before the first customer
        customers = await gather_limited([self.new_customer() for _ in range(config.customers)], 20)
        await gather_limited([self.start_conversation(c, []) for c in customers], 20)
        deadline = time.monotonic() + config.chat_seconds
        started = time.monotonic()
        await asyncio.gather(*(self._chatter(c, deadline) for c in customers))
        self.report.chat_seconds = time.monotonic() - started
        # Nobody starts a message any more; those under way finish before the conversations end
        # (a message into an ended conversation is refused, rightly: not the stack's error).
        self.answering = False
        while self.in_flight:
            await asyncio.gather(*list(self.in_flight))
        return agents + customers

    async def _chatter(self, customer: Person, deadline: float) -> None:
        first = time.monotonic() + self.rng.uniform(0, self.config.message_interval)
        await asyncio.sleep(max(0.0, min(first, deadline) - time.monotonic()))
        n = 0
        while time.monotonic() < deadline and customer.session_id:
            n += 1
            client_msg_id = f"m{customer.user_id[-8:]}{n:04d}{self.run_id}"
            sent_at = time.monotonic()
            self.spawn(self.send_message(customer, customer.session_id, client_msg_id, f"hello {n}"))
            await asyncio.sleep(max(0.0, sent_at + self.config.message_interval - time.monotonic()))

    async def keep_agents_alive(self) -> None:
        """Agents' consoles ping every 20 s as the SPA does: presence rests on it (an agent silent
        for ``KEFU_HEARTBEAT_WINDOW`` takes no customers)."""
        while True:
            await asyncio.sleep(20)
            for agent in [p for p in self.people.values() if p.kind == "agent"]:
                for socket in agent.open_sockets():
                    with contextlib.suppress(ConnectionClosed):
                        await socket.send("ping")

    async def end_conversations(self, customers: list[Person]) -> None:
        async def end(customer: Person) -> None:
            socket = customer.sockets[0]
            with contextlib.suppress(TimeoutError, ConnectionClosed):
                await socket.request("end_session", lambda f: f.get("type") == "session.ended",
                                     session_id=customer.session_id)

        await gather_limited([end(c) for c in customers if c.session_id], 20)

    async def burst(self) -> list[Person]:
        config = self.config
        started = time.monotonic()

        async def arrive(i: int) -> Person:
            await asyncio.sleep(max(0.0, started + i * config.burst_seconds / config.burst - time.monotonic()))
            customer = await self.new_customer()
            await self.start_conversation(customer)
            return customer

        return list(await asyncio.gather(*(arrive(i) for i in range(config.burst))))

    async def quiesce(self) -> None:
        """Wait until every expected delivery arrived, or no frame came for ``quiet_seconds``."""
        while True:
            missing = sum(1 for cid, sent in self.sent.items() for s in sent.expected
                          if s.is_open and not self.received[(cid, s.key)])
            if not missing or time.monotonic() - self.last_frame > self.config.quiet_seconds:
                return
            await asyncio.sleep(0.2)

    async def check(self) -> None:
        """Every acknowledged message stored once and delivered once to every socket it was due."""
        report = self.report
        for client_msg_id, sent in self.sent.items():
            if not sent.acked:
                continue
            for socket in sent.expected:
                if not socket.is_open:
                    report.unchecked += 1  # closed before the check: not a promise the stack made
                    continue
                got = self.received[(client_msg_id, socket.key)]
                if got != 1:
                    report.lost += got == 0
                    report.duplicated += max(0, got - 1)
                    report.note(f"{client_msg_id} reached a {socket.person.kind} socket {got} times")
        stored: Counter[str] = Counter()
        customers = {p.session_id: p for p in self.people.values() if p.kind == "visitor" and p.session_id}
        sessions = {sent.session_id for sent in self.sent.values()}

        async def read(session_id: str) -> None:
            before = None
            while True:
                path = f"/api/sessions/{session_id}/messages?limit=100" + (f"&before={before}" if before else "")
                page = await self.rest("GET", path, customers[session_id].token, customers[session_id].source)
                stored.update(m.get("client_msg_id") or "" for m in page["messages"])
                before = page.get("next")
                if not before:
                    return

        await gather_limited([read(s) for s in sessions if s in customers], 20)
        for client_msg_id, sent in self.sent.items():
            if sent.acked and stored[client_msg_id] != 1:
                report.lost += stored[client_msg_id] == 0
                report.duplicated += max(0, stored[client_msg_id] - 1)
                report.note(f"{client_msg_id} stored {stored[client_msg_id]} times")

    async def assignment_burst(self, previous_agents: list[Person]) -> None:
        """``assign_customers`` customers, connected beforehand, ask for one of ``assign_agents``
        agents (room for all of them) ``assign_concurrency`` at a time."""
        config = self.config
        for agent in previous_agents:
            await self.rest("PUT", "/api/agents/me/status", agent.token, agent.source, status="offline")
        capacity = -(-config.assign_customers // config.assign_agents)
        await gather_limited([self.new_agent(capacity) for _ in range(config.assign_agents)], 20)
        customers = await gather_limited([self.new_customer() for _ in range(config.assign_customers)], 20)
        await asyncio.sleep(1.5)  # the new agents online for longer than the index lag
        waiting = list(customers)
        self.say("assignments: every customer connected, asking now")
        cpu_before = self.cpu() if self.cpu else None
        started = time.monotonic()

        async def worker() -> None:
            while waiting:
                await self.start_conversation(waiting.pop(), self.report.assign_burst_ms)

        await asyncio.gather(*(worker() for _ in range(config.assign_concurrency)))
        self.report.assign_burst_seconds = time.monotonic() - started
        if cpu_before is not None:
            self.report.assign_burst_cpu_seconds = self.cpu() - cpu_before
        self.say(f"assignments: done in {self.report.assign_burst_seconds:.1f} s")
        self.report.assign_burst_customers = config.assign_customers

    async def connections_settle(self, timeout: float = 60.0) -> None:
        """Wait until every ``$disconnect`` of the sockets closed so far has been handled to its
        end, so the next phase does not share the stack with them: the stack lists no open
        connection (a handler deletes the record first) and counts as many handlers finished
        since the run began as sockets were closed (the rest of a handler runs after the delete)."""
        closed = sum(1 for p in self.people.values() for s in p.sockets if not s.is_open)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            page = await self.rest("GET", "/api/connections?limit=1", self._admin_token)
            if not page["connections"] and await self.disconnects_handled() - self._disconnects_before >= closed:
                return
            await asyncio.sleep(0.5)
        self.report.note(f"$disconnect still running {timeout:g} s after every socket closed")

    async def close_all(self) -> None:
        self.closing = True
        sockets = [s for p in self.people.values() for s in p.sockets if s.is_open]
        await gather_limited([s.close() for s in sockets], 50)


class RestError(Exception):
    """A REST call failed (counted in ``errors``)."""


async def gather_limited(coroutines: list[Any], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(coroutine: Any) -> Any:
        async with gate:
            return await coroutine

    return list(await asyncio.gather(*(one(c) for c in coroutines)))


async def run_load(rest_url: str, config: LoadConfig, admin_user: str, admin_password: str,
                   phases: tuple[str, ...] = ("chat", "burst", "assign"), progress: Any = None,
                   cpu: Any = None) -> Report:
    """Run the phases against the stack at ``rest_url``; returns the figures."""
    say = progress or (lambda text: None)
    asyncio.get_running_loop().set_default_executor(concurrent.futures.ThreadPoolExecutor(64))
    load = Load(rest_url, config, admin_user, admin_password, say, cpu)
    pinger = asyncio.get_running_loop().create_task(load.keep_agents_alive())
    try:
        await load.sign_in_admin()
        agents: list[Person] = []
        if "chat" in phases:
            say(f"chat: {config.agents} agents, {config.customers} customers, {config.chat_seconds:g} s")
            people = await load.chat()
            agents = [p for p in people if p.kind == "agent"]
            say("chat: ending the conversations")
            await load.end_conversations([p for p in people if p.kind == "visitor"])
        if "burst" in phases:
            if not agents:
                agents = await gather_limited([load.new_agent(config.capacity) for _ in range(config.agents)], 20)
                await asyncio.sleep(1.5)
            say(f"burst: {config.burst} new customers in {config.burst_seconds:g} s")
            burst = await load.burst()
            await load.end_conversations(burst)
        if "chat" in phases or "burst" in phases:
            say("quiescence, then the check of every message")
            await load.quiesce()
            await load.check()
            await load.close_all()  # presence follows: nobody of these phases is online any more
            load.closing = False
            if "assign" in phases:
                say("assignments: waiting for the stack to handle every $disconnect")
                await load.connections_settle()
        if "assign" in phases:
            say(f"assignments: {config.assign_customers} customers, {config.assign_agents} agents, "
                f"{config.assign_concurrency} at a time")
            await load.assignment_burst(agents)
    finally:
        pinger.cancel()
        await load.close_all()
    return load.report


# ---- a stack of our own -------------------------------------------------------------------------


def process_tree_cpu(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its descendants (Linux /proc; the stack's DynamoDB
    runs in a child)."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        pending.extend(int(child) for child in children)
    return total


@contextlib.contextmanager
def own_stack(log_path: Path | None = None, extra_env: dict[str, str] | None = None) -> Any:
    """``python -m devstack --fresh`` on free ports in a temporary data dir, as ``make run`` runs
    it; yields (rest_url, admin user, admin password) once it answers, stops it with SIGTERM."""
    with tempfile.TemporaryDirectory(prefix="kefu-load-") as data:
        password = secrets.token_urlsafe(12)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KEFU_", "AWS_", "POWERTOOLS_"))}
        env.update({"KEFU_DATA_DIR": data, "KEFU_HTTP_PORT": "0", "KEFU_WS_PORT": "0", "KEFU_WS_MGMT_PORT": "0",
                    "KEFU_ADMIN_PASSWORD": password,
                    **{k: v for k, v in os.environ.items() if k.startswith("KEFU_SIM")}, **(extra_env or {})})
        log = open(log_path or Path(data) / "stack.log", "wb")  # noqa: SIM115 - closed below
        process = subprocess.Popen([sys.executable, "-m", "devstack", "--fresh"], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            stack_file = Path(data) / "stack.json"
            deadline = time.monotonic() + 120
            while not stack_file.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the stack did not start (see {log.name})")
                time.sleep(0.1)
            yield json.loads(stack_file.read_text())["rest_url"], "admin", password, process.pid
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = LoadConfig()
    parser.add_argument("--url", help="a running stack's REST URL (default: start one)")
    parser.add_argument("--admin-user", default=os.environ.get("KEFU_ADMIN_USERNAME") or "admin")
    parser.add_argument("--admin-password", default=os.environ.get("KEFU_ADMIN_PASSWORD"))
    parser.add_argument("--phases", default="chat,burst,assign", help="any of chat,burst,assign")
    parser.add_argument("--stack-log", type=Path, help="where a stack of our own logs")
    parser.add_argument("--stack-env", action="append", default=[], metavar="NAME=VALUE",
                        help="a variable for a stack of our own (e.g. KEFU_SIGN_LOCAL_REQUESTS=1)")
    for name, value in vars(defaults).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args()
    config = LoadConfig(**{name: getattr(args, name) for name in vars(defaults)})
    phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())

    def progress(text: str) -> None:
        print(f"# {text}", file=sys.stderr, flush=True)

    if args.url:
        if not args.admin_password:
            parser.error("--url needs --admin-password (or KEFU_ADMIN_PASSWORD)")
        report = asyncio.run(run_load(args.url, config, args.admin_user, args.admin_password, phases, progress))
    else:
        stack_env = dict(item.split("=", 1) for item in args.stack_env)
        with own_stack(args.stack_log, stack_env) as (url, user, password, pid):
            progress(f"stack started (pid {pid}) at {url}")
            cpu = (lambda: process_tree_cpu(pid)) if Path(f"/proc/{pid}/stat").exists() else None
            report = asyncio.run(run_load(url, config, user, password, phases, progress, cpu))
    for problem in report.problems:
        progress(problem)
    for line in report.lines(config):
        print(line, flush=True)


if __name__ == "__main__":
    main()
