"""A soak of the whole desk through the real local stack, real sockets and the REST API.

For ``KEFU_SOAK_SECONDS`` (default 120) agents and customers act at once, each in their own
thread with their own seeded random choices: agents go online and offline, reload their console,
fall silent past the heartbeat window (their socket open, no frame), reply, release, end and
transfer; customers arrive, talk, end, or close the tab and sometimes come back. An admin runs the
sweep now and then, and a sampler reads the stored state (consistent Scans) every half second.

Then quiescence: everyone stops, the indexes catch up, the sweep runs, and every promise must hold
(``tests/concurrency/invariants.py``), with these over the whole run: no agent was ever over
capacity and no customer ever had two open sessions (sampled); no socket was answered with an
internal error nor any REST call with a 5xx; every acknowledged message is stored exactly once, no
socket received one message twice, and the other party's socket that was open from before the
message was sent to the end received it (in conversations that stayed with one agent: after a
transfer or a requeue, who "the other party" was at that instant is not observable from outside;
a message written while the session waited again has no agent to push to).

Seeded (``KEFU_SOAK_SEED``); a failure names its seed. Bounded: the soak stops at its deadline
and every wait has a timeout.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as open_websocket

from chalicelib.services import agents
from devstack import Stack
from tests.concurrency.invariants import (
    capacity_violations,
    describe,
    quiescent_violations,
    read_snapshot,
    settle,
)
from tests.conftest import reset_tables
from tests.e2e.protocol_helpers import Person, admin_token, agent_account, sign_up_visitor

SEED = int(os.environ.get("KEFU_SOAK_SEED") or 20261128)
SOAK_SECONDS = float(os.environ.get("KEFU_SOAK_SECONDS") or 120)
AGENTS = 5
CAPACITY = 3
CUSTOMERS = 16
SILENCE_SECONDS = 36  # past the 30 s heartbeat window of the tests
TIMEOUT = 10.0

Frame = dict[str, Any]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """The local stack, as tests/e2e starts it, for this module alone."""
    reset_tables()
    local = Stack(schedules=False)
    local.start()
    yield local
    local.stop()


class Socket:
    """One real WebSocket; a reader thread keeps every frame with the time it arrived."""

    def __init__(self, stack: Stack, person: Person, record: Record) -> None:
        self.person = person
        self.closed_at: float | None = None
        self.frames: list[tuple[float, Frame]] = []
        self._arrived = threading.Condition()
        self.client: ClientConnection = open_websocket(f"{stack.ws_url}?token={person.token}",
                                                       open_timeout=TIMEOUT, close_timeout=2)
        self.opened_at = time.monotonic()  # $connect registered it: pushes reach it from now on
        record.sockets.append(self)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for raw in self.client:
                with self._arrived:
                    self.frames.append((time.monotonic(), json.loads(raw)))
                    self._arrived.notify_all()
        except ConnectionClosed:
            pass

    def send(self, action: str, **fields: Any) -> None:
        self.client.send(json.dumps({"action": action, **fields}))

    def wait(self, match: Callable[[Frame], bool], since: int = 0, timeout: float = TIMEOUT) -> Frame | None:
        """The first frame from index ``since`` on that ``match`` accepts, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for _, frame in self.frames[since:]:
                    if match(frame):
                        return frame
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed_at is not None:
                    return None
                self._arrived.wait(remaining)

    def request(self, action: str, match: Callable[[Frame], bool], **fields: Any) -> Frame | None:
        since = len(self.frames)
        self.send(action, **fields)
        return self.wait(match, since)

    def close(self) -> None:
        self.closed_at = time.monotonic()
        self.client.close()
        with self._arrived:
            self._arrived.notify_all()


@dataclass
class Acked:
    message_id: str
    session_id: str
    sender: str
    at: float  # when it was sent: a socket opened later may miss the fan-out, legitimately


@dataclass
class Record:
    """What the run did and saw, shared by every actor (appends only; lists are thread-safe)."""

    sockets: list[Socket] = field(default_factory=list)
    acked: list[Acked] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    sampled: list[str] = field(default_factory=list)
    sessions: dict[str, str] = field(default_factory=dict)  # session -> visitor
    tokens: dict[str, str] = field(default_factory=dict)  # user -> token
    actions: Counter[str] = field(default_factory=Counter)


def _is_type(*types: str, **fields: Any) -> Callable[[Frame], bool]:
    return lambda f: f.get("type") in types and all(f.get(k) == v for k, v in fields.items())


class Actor:
    def __init__(self, stack: Stack, person: Person, record: Record, rng: random.Random,
                 deadline: float) -> None:
        self.stack, self.person, self.record, self.rng, self.deadline = stack, person, record, rng, deadline
        self.socket: Socket | None = None
        record.tokens[person.id] = person.token

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = requests.request(method, f"{self.stack.rest_url}{path}", timeout=30,
                                    headers={"Authorization": f"Bearer {self.person.token}"}, **kwargs)
        if response.status_code >= 500:
            self.record.problems.append(f"{method} {path} answered {response.status_code}: {response.text}")
        return response

    def open_socket(self) -> Socket:
        self.socket = Socket(self.stack, self.person, self.record)
        return self.socket

    def close_socket(self) -> None:
        if self.socket is not None:
            self.socket.close()
            self.socket = None

    def pause(self, low: float = 0.2, high: float = 1.0) -> None:
        time.sleep(self.rng.uniform(low, high))

    def send_message(self, session_id: str) -> None:
        assert self.socket is not None
        client_msg_id = f"c-{uuid.uuid4().hex}"
        text = f"{self.person.name} says {self.rng.randrange(10**6)}"
        sent_at = time.monotonic()
        reply = self.socket.request("send_message", lambda f: f.get("client_msg_id") == client_msg_id,
                                    session_id=session_id, client_msg_id=client_msg_id, text=text)
        if reply is not None and reply.get("type") == "message.ack":
            message = reply["message"]
            self.record.acked.append(Acked(message["id"], session_id, self.person.id, sent_at))
            self.record.actions["message acked"] += 1
        elif reply is not None and reply.get("type") == "error":
            self.record.actions[f"message refused: {reply.get('code')}"] += 1

    def run(self) -> None:
        try:
            while time.monotonic() < self.deadline:
                self.step()
        except Exception as e:  # noqa: BLE001 - an actor's crash is reported with the seed
            self.record.problems.append(f"{self.person.name} crashed: {type(e).__name__}: {e}")


class AgentActor(Actor):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.online = False

    def my_sessions(self) -> list[str]:
        response = self.api("GET", "/api/sessions", params={"status": "active"})
        if response.status_code != 200:
            return []
        return [s["session_id"] for s in response.json()["sessions"]
                if (s.get("agent") or {}).get("id") == self.person.id]

    def set_status(self, status: str) -> None:
        response = self.api("PUT", "/api/agents/me/status", json={"status": status})
        if response.status_code == 200:
            self.online = status == "online"
        self.record.actions[f"status {status}: {response.status_code}"] += 1

    def step(self) -> None:
        if self.socket is None:
            self.open_socket()
        if not self.online:
            self.set_status("online")
        roll = self.rng.random()
        if roll < 0.03:
            self.record.actions["agent silent"] += 1
            time.sleep(min(SILENCE_SECONDS, max(0.0, self.deadline - time.monotonic())))
            return
        if roll < 0.07:
            self.set_status("offline")
            self.pause(1, 4)
            return
        if roll < 0.10:
            self.record.actions["console reload"] += 1
            old = self.socket
            self.open_socket()
            old.close()
            return
        if roll < 0.13:
            self.record.actions["agent drops connection"] += 1
            self.close_socket()
            self.pause(0.5, 2)
            return
        assert self.socket is not None
        sessions = self.my_sessions()
        if sessions:
            session_id = self.rng.choice(sessions)
            if roll < 0.20:
                customer = self.record.sessions.get(session_id)
                if customer is not None:
                    response = self.api("POST", f"/api/kefu/release/{customer}")
                    self.record.actions[f"release: {response.status_code}"] += 1
            elif roll < 0.32:
                response = self.api("POST", f"/api/sessions/{session_id}/transfer", json={})
                self.record.actions[f"transfer: {response.status_code}"] += 1
            elif roll < 0.36:
                self.socket.send("end_session", session_id=session_id)
                self.record.actions["agent end"] += 1
            else:
                self.send_message(session_id)
        else:
            self.socket.request("ping", _is_type("pong"))
        self.pause()


class CustomerActor(Actor):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.session_id: str | None = None

    def current_state(self) -> str | None:
        """The session's status as the customer's socket last heard it."""
        if self.socket is None or self.session_id is None:
            return None
        state = None
        for _, frame in list(self.socket.frames):
            if frame.get("session_id") != self.session_id:
                continue
            kind = frame.get("type")
            if kind in ("session.assigned", "session.transferred"):
                state = "active"
            elif kind in ("session.queued", "session.released"):
                state = "queued"
            elif kind == "session.ended":
                state = "ended"
        return state

    def step(self) -> None:
        if self.socket is None:
            if self.rng.random() < 0.5:
                self.pause(1, 3)
                return
            self.open_socket()
            self.session_id = None
        socket = self.socket
        if self.session_id is None:
            frame = socket.request("start_session", _is_type("session.assigned", "session.queued", "error"),
                                   topic="soak")
            if frame is not None and frame.get("session_id"):
                self.session_id = frame["session_id"]
                self.record.sessions[self.session_id] = self.person.id
                self.record.actions[f"start: {frame['type']}"] += 1
            self.pause()
            return
        state = self.current_state()
        roll = self.rng.random()
        if state == "ended":
            self.session_id = None
        elif roll < 0.05:
            self.record.actions["customer closes the tab"] += 1
            self.close_socket()
        elif roll < 0.10:
            self.record.actions["customer ends"] += 1
            socket.send("end_session", session_id=self.session_id)
            self.session_id = None
        elif state == "active":
            self.send_message(self.session_id)
        self.pause()


def _sample(record: Record, stop: threading.Event) -> None:
    while not stop.wait(0.5):
        snapshot = read_snapshot()
        open_by_visitor = Counter(s.visitor_id for s in snapshot.sessions.values() if s.status in ("queued", "active"))
        found = capacity_violations(snapshot) + [f"visitor {v} has {n} open sessions"
                                                 for v, n in open_by_visitor.items() if n > 1]
        record.sampled.extend(f"t={time.monotonic():.1f}: {v}" for v in found)


def _sweep(stack: Stack, admin: str, record: Record, stop: threading.Event) -> None:
    while not stop.wait(8):
        _cleanup(stack, admin, record)


def _cleanup(stack: Stack, admin: str, record: Record) -> None:
    response = requests.post(f"{stack.rest_url}/api/kefu/cleanup", headers={"Authorization": f"Bearer {admin}"},
                             timeout=30)
    if response.status_code != 200:
        record.problems.append(f"cleanup answered {response.status_code}: {response.text}")


def _stored_message_ids(stack: Stack, token: str, session_id: str) -> list[str]:
    ids: list[str] = []
    before = None
    while True:
        params = {"limit": 100, **({"before": before} if before else {})}
        response = requests.get(f"{stack.rest_url}/api/sessions/{session_id}/messages", params=params,
                                headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert response.status_code == 200, response.text
        page = response.json()
        ids.extend(m["id"] for m in page["messages"])
        before = page["next"]
        if before is None:
            return ids


def _message_violations(stack: Stack, record: Record) -> list[str]:
    found = []
    snapshot = read_snapshot()
    # Every acknowledged message is stored exactly once.
    by_session: dict[str, list[Acked]] = defaultdict(list)
    for acked in record.acked:
        by_session[acked.session_id].append(acked)
    for session_id, messages in by_session.items():
        stored = Counter(_stored_message_ids(stack, record.tokens[record.sessions[session_id]], session_id))
        for acked in messages:
            if (times := stored[acked.message_id]) != 1:
                found.append(f"acked message {acked.message_id} of {session_id} is stored {times} times")
    # No socket receives one message twice.
    agents_seen: dict[str, set[str]] = defaultdict(set)
    requeued: set[str] = set()  # handed back to the queue once: a message written then had no agent
    for socket in record.sockets:
        received = Counter(f["message"]["id"] for _, f in socket.frames if f.get("type") == "message.new")
        found += [f"socket of {socket.person.name} received {mid} {n} times" for mid, n in received.items() if n > 1]
        for _, frame in socket.frames:
            if frame.get("type") in ("session.assigned", "session.transferred") and frame.get("agent"):
                agents_seen[frame["session_id"]].add(frame["agent"]["id"])
            if frame.get("type") == "session.released":
                requeued.add(frame["session_id"])
    # The other party's socket, open from before the ack to the end, received it once.
    for acked in record.acked:
        session = snapshot.sessions.get(acked.session_id)
        seen = agents_seen[acked.session_id] | ({session.agent_id} if session and session.agent_id else set())
        if session is None or len(seen) != 1 or int(session.transfer_count or 0) or acked.session_id in requeued:
            continue
        other = session.agent_id if acked.sender == session.visitor_id else session.visitor_id
        for socket in record.sockets:
            if socket.person.id != other or socket.opened_at >= acked.at or socket.closed_at is not None:
                continue
            got = sum(1 for _, f in socket.frames
                      if f.get("type") == "message.new" and f["message"]["id"] == acked.message_id)
            if got != 1:
                later = [f"error {f.get('code')}" if f.get("type") == "error" else f.get("type")
                         for t, f in socket.frames if t > acked.at]
                found.append(f"message {acked.message_id} of {acked.session_id} ({session.status}, with "
                             f"{session.agent_id}) from {acked.sender} reached the other party's socket "
                             f"(open {acked.at - socket.opened_at:.1f} s before the send) {got} times; "
                             f"it received after the ack: {later[:12]}")
    return found


def test_the_desk_keeps_every_promise_through_a_soak_of_agents_and_customers(stack: Stack):
    reset_tables()
    assert stack.admin is not None and stack.admin.password is not None
    agents.ensure_admin(stack.admin.username, stack.admin.password)
    settle()  # the admin logs in later than the index lag after being seeded (login reads an index)
    admin = admin_token(stack)
    record = Record()
    master = random.Random(SEED)
    deadline = time.monotonic() + SOAK_SECONDS
    actors: list[Actor] = []
    for i in range(AGENTS):
        actors.append(AgentActor(stack, agent_account(f"Agent{i}", CAPACITY), record,
                                 random.Random(master.random()), deadline))
    for i in range(CUSTOMERS):
        actors.append(CustomerActor(stack, sign_up_visitor(stack, f"Customer{i}"), record,
                                    random.Random(master.random()), deadline))
    stop = threading.Event()
    helpers = [threading.Thread(target=_sample, args=(record, stop), daemon=True),
               threading.Thread(target=_sweep, args=(stack, admin, record, stop), daemon=True)]
    threads = [threading.Thread(target=actor.run, daemon=True) for actor in actors] + helpers
    for thread in threads:
        thread.start()
    for thread in threads[: len(actors)]:
        thread.join(timeout=SOAK_SECONDS + SILENCE_SECONDS + 60)
    stop.set()
    for thread in helpers:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), f"seed {SEED}: an actor did not stop"

    # Quiescence: nobody acts; the indexes catch up and the sweep runs twice.
    for _ in range(2):
        settle()
        _cleanup(stack, admin, record)
    settle()
    snapshot = read_snapshot()
    view = requests.get(f"{stack.rest_url}/api/kefu/queue", headers={"Authorization": f"Bearer {admin}"},
                        timeout=30).json()["queue"]
    violations = [f"during the run: {p}" for p in record.problems] + [f"sampled: {v}" for v in record.sampled]
    violations += quiescent_violations(snapshot, view)
    # Customers still waiting were last told unique positions.
    told: dict[str, int] = {}
    for socket in record.sockets:
        if socket.closed_at is None:
            for _, frame in socket.frames:
                if frame.get("type") == "session.queued" and frame.get("position") is not None:
                    told[frame["session_id"]] = frame["position"]
    still_waiting = {s.session_id for s in snapshot.queued}
    last_told = [told[sid] for sid in still_waiting if sid in told]
    if len(set(last_told)) != len(last_told):
        violations.append(f"customers still waiting were last told positions {sorted(last_told)}")
    violations += [f"socket of {s.person.name} got an internal error: {f}" for s in record.sockets
                   for _, f in s.frames if f.get("type") == "error" and f.get("code") == "internal_error"]
    violations += _message_violations(stack, record)
    for socket in record.sockets:
        if socket.closed_at is None:
            socket.close()
    summary = ", ".join(f"{k} x{v}" for k, v in sorted(record.actions.items()))
    assert not violations, f"seed {SEED} ({summary}):\n{describe(violations, 40)}"
    assert record.actions["message acked"] > 0 and any(k.startswith("transfer: 200") for k in record.actions), (
        f"seed {SEED}: the soak never reached conversations and transfers ({summary})")
