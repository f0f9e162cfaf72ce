"""A soak of the whole desk through the real local stack, real sockets and the REST API.

For ``KEFU_SOAK_SECONDS`` (default 120) agents and customers act at once, each in their own
thread with their own seeded random choices: agents go online and offline, reload their console,
fall silent past the heartbeat window (their socket open, no frame), reply, release, end and
transfer; customers arrive, talk, end, or close the tab and sometimes come back. Everyone also
holds a second socket (a laptop asleep beside the phone, a tab in the background) that stays
silent for a while, then speaks, and is sometimes closed and opened again. An admin runs the
sweep now and then, and a sampler reads the stored state (consistent Scans) every half second.

Then quiescence: everyone stops, the indexes catch up, the sweep runs, and every promise must hold
(``tests/concurrency/invariants.py``), with these over the whole run: no agent was ever over
capacity and no customer ever had two open sessions (sampled); no socket was answered with an
internal error nor any REST call with a 5xx; every acknowledged message is stored exactly once, no
socket received one message twice, and every socket of both parties (but the one that sent it)
that was open from before the message was sent until the end, or long after, received it (in
conversations that stayed with one agent: after a transfer or a requeue, who "the other party" was
at that instant is not observable from outside; a message written while the session waited again
has no agent to push to); the number of deliveries so verified is printed and must be in the
hundreds. Every position announcement told distinct positions; and the session frame each open
socket holds last (newest by version, as clients keep it, with what the socket listed when it
opened) matches the session's stored state.

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
from tests.e2e.protocol_helpers import Person, SessionView, admin_token, agent_account, sign_up_visitor

SEED = int(os.environ.get("KEFU_SOAK_SEED") or 20261128)
SOAK_SECONDS = float(os.environ.get("KEFU_SOAK_SECONDS") or 120)
AGENTS = 5
CAPACITY = 3
CUSTOMERS = 16
SILENCE_SECONDS = 36  # past the 30 s heartbeat window of the tests
BACKGROUND_SILENCE = (20.0, 50.0)  # how long a second socket stays silent before it speaks
TIMEOUT = 10.0
MIN_DELIVERIES = 200

Frame = dict[str, Any]


@pytest.fixture
def assigners_race() -> Iterator[None]:
    """The stack's own setting, not the race tests' (tests/concurrency/conftest.py): its assigners
    take turns, as ``make run``'s do."""
    yield


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
        # As the widget and console do: what a frame posted during $connect (answered 410) told
        # others, this socket learns from the listing it asks for once connected.
        self.send("list_sessions")

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
    socket: Socket  # the one that sent it (it gets the ack, not the push)


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
    deliveries: int = 0  # message pushes verified to have reached a socket they were owed to


def _is_type(*types: str, **fields: Any) -> Callable[[Frame], bool]:
    return lambda f: f.get("type") in types and all(f.get(k) == v for k, v in fields.items())


SESSION_FRAMES = ("session.queued", "session.assigned", "session.transferred", "session.released",
                  "session.ended", "session.rated")
ENDED = ("ended", "abandoned")


def held_session_frames(socket: Socket) -> dict[str, Frame]:
    """Per session, the state a client following the protocol shows on this socket: the newest of
    its session frames and of the items of the listings it asked for (by version, then
    position_seq; an older one arriving later is ignored)."""
    view = SessionView()
    for _, frame in list(socket.frames):
        if frame.get("type") in SESSION_FRAMES:
            view.apply(frame)
        elif frame.get("type") == "sessions":
            for item in frame.get("sessions") or []:
                view.apply({"type": "listed", **item})
    return view.current


def implied_state(frame: Frame) -> tuple[str, str | None]:
    """What a held frame says of its session: (queued | active | ended, the agent it is with)."""
    kind = frame["type"]
    if kind == "listed":
        status = frame.get("status")
        agent = (frame.get("agent") or {}).get("id") if isinstance(frame.get("agent"), dict) else frame.get("agent_id")
        return ("ended" if status in ENDED else status), (agent if status == "active" else None)
    if kind in ("session.assigned", "session.transferred"):
        return "active", frame["agent"]["id"]
    if kind in ("session.queued", "session.released"):
        return "queued", None
    return "ended", None


class Actor:
    def __init__(self, stack: Stack, person: Person, record: Record, rng: random.Random,
                 deadline: float) -> None:
        self.stack, self.person, self.record, self.rng, self.deadline = stack, person, record, rng, deadline
        self.socket: Socket | None = None
        self.background: Socket | None = None
        self.quiet_until = 0.0  # the background socket stays silent until then
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

    def tend_background(self) -> None:
        """The second socket: opened, silent for a while (past the heartbeat window, often), then
        it speaks once; now and then it is closed (its owner's other socket stays) and reopened."""
        now = time.monotonic()
        if self.background is None:
            if self.rng.random() < 0.3:
                self.background = Socket(self.stack, self.person, self.record)
                self.quiet_until = now + self.rng.uniform(*BACKGROUND_SILENCE)
            return
        if now < self.quiet_until:
            return
        if self.rng.random() < 0.2:
            self.record.actions["background socket closed"] += 1
            self.background.close()
            self.background = None
            return
        self.record.actions["background socket speaks"] += 1
        self.background.send("ping")
        self.quiet_until = now + self.rng.uniform(*BACKGROUND_SILENCE)

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
            self.record.acked.append(Acked(message["id"], session_id, self.person.id, sent_at, self.socket))
            self.record.actions["message acked"] += 1
        elif reply is not None and reply.get("type") == "error":
            self.record.actions[f"message refused: {reply.get('code')}"] += 1

    def run(self) -> None:
        try:
            while time.monotonic() < self.deadline:
                self.tend_background()
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
        shown = held_session_frames(self.socket).get(self.session_id)
        return implied_state(shown)[0] if shown is not None else None

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
            if self.background is not None and self.rng.random() < 0.5:
                self.record.actions["customer closes every tab"] += 1
                self.background.close()
                self.background = None
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
    # Every socket of both parties but the sender's, open from before the send until the end (or
    # long enough after it), received it once.
    delivered = 0
    for acked in record.acked:
        session = snapshot.sessions.get(acked.session_id)
        seen = agents_seen[acked.session_id] | ({session.agent_id} if session and session.agent_id else set())
        if session is None or len(seen) != 1 or int(session.transfer_count or 0) or acked.session_id in requeued:
            continue
        for socket in record.sockets:
            if socket.person.id not in (session.agent_id, session.visitor_id) or socket is acked.socket:
                continue
            if socket.opened_at >= acked.at or (socket.closed_at is not None and socket.closed_at < acked.at + TIMEOUT):
                continue
            got = sum(1 for _, f in socket.frames
                      if f.get("type") == "message.new" and f["message"]["id"] == acked.message_id)
            if got == 1:
                delivered += 1
                continue
            later = [f"error {f.get('code')}" if f.get("type") == "error" else f.get("type")
                     for t, f in socket.frames if t > acked.at]
            found.append(f"message {acked.message_id} of {acked.session_id} ({session.status}, with "
                         f"{session.agent_id}) from {acked.sender} reached a socket of {socket.person.name} "
                         f"(open {acked.at - socket.opened_at:.1f} s before the send) {got} times; "
                         f"it received after the ack: {later[:12]}")
    record.deliveries = delivered
    return found


def _position_violations(record: Record) -> list[str]:
    """One announcement (one ``position_seq``) tells each waiting customer a different position."""
    told: dict[int, dict[str, int]] = defaultdict(dict)
    for socket in record.sockets:
        for _, frame in socket.frames:
            seq = frame.get("position_seq")
            if frame.get("type") == "session.queued" and seq and frame.get("position") is not None:
                told[seq][frame["session_id"]] = frame["position"]
    return [f"announcement {seq} told positions {sorted(positions.values())} to {len(positions)} customers"
            for seq, positions in told.items() if len(set(positions.values())) != len(positions)]


def _held_state_violations(record: Record, snapshot: Any) -> list[str]:
    """Every open socket shows each session it heard of as it is stored: a customer's as queued,
    active with its agent, or ended; an agent's as theirs exactly while it is active with them."""
    found = []
    for socket in record.sockets:
        if socket.closed_at is not None:
            continue
        for session_id, frame in held_session_frames(socket).items():
            session = snapshot.sessions.get(session_id)
            if session is None:
                continue
            shown, agent = implied_state(frame)
            stored = "ended" if session.status in ENDED else session.status
            is_agent = socket.person.id.startswith("a_")
            if is_agent:
                mine_shown = shown == "active" and agent == socket.person.id
                mine_stored = stored == "active" and session.agent_id == socket.person.id
                wrong = mine_shown != mine_stored
            else:
                wrong = shown != stored or (stored == "active" and agent != session.agent_id)
            if wrong:
                found.append(f"a socket of {socket.person.name} shows {session_id} as {frame['type']} "
                             f"(v{frame.get('version')}); stored: {session.status} with {session.agent_id} "
                             f"(v{session.version})")
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
    violations += _position_violations(record)
    violations += _held_state_violations(record, snapshot)
    violations += [f"socket of {s.person.name} got an internal error: {f}" for s in record.sockets
                   for _, f in s.frames if f.get("type") == "error" and f.get("code") == "internal_error"]
    violations += _message_violations(stack, record)
    for socket in record.sockets:
        if socket.closed_at is None:
            socket.close()
    summary = ", ".join(f"{k} x{v}" for k, v in sorted(record.actions.items()))
    print(f"soak: {record.deliveries} deliveries verified, {len(record.acked)} messages acknowledged, "  # noqa: T201
          f"{len(record.sockets)} sockets ({summary})")
    assert not violations, f"seed {SEED} ({summary}):\n{describe(violations, 40)}"
    assert record.actions["message acked"] > 0 and any(k.startswith("transfer: 200") for k in record.actions), (
        f"seed {SEED}: the soak never reached conversations and transfers ({summary})")
    assert record.deliveries >= MIN_DELIVERIES, (
        f"seed {SEED}: only {record.deliveries} deliveries verified ({summary})")
