"""Speaking the chat protocol through the real local stack: people, sockets and frames.

``Peer`` wraps one real WebSocket. Pushes arrive asynchronously through the gateway, so
``expect`` reads until a frame of the wanted type (and fields) arrives and keeps every other frame
for later ``expect`` calls; ``sync`` sends a ping and returns everything that arrived before the
pong, which is how a test asserts that a frame did *not* arrive (the gateway delivers one
connection's frames in order, and a push is delivered before the action that caused it replies).
The transcript's system lines (``message.new`` of sender type ``system``, and the "joined" line a
``session.assigned`` frame carries) are set aside in ``system_lines``: they tell of changes the
tests follow through their own frames.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests
from websockets.sync.client import ClientConnection

from chalicelib import push
from chalicelib.services import agents, tokens
from chalicelib.services.tokens import Principal
from devstack import Stack
from tests.conftest import reset_tables
from tests.e2e.conftest import wait_for

Frame = dict[str, Any]

TIMEOUT = 5.0


class FrameTimeout(AssertionError):
    """The awaited frame did not arrive; the message lists what did."""


class Peer:
    """One open WebSocket of a visitor or an agent, and the frames it has received."""

    def __init__(self, client: ClientConnection) -> None:
        self.client = client
        self.pending: list[Frame] = []  # received, not yet taken by ``expect``
        self.received: list[Frame] = []  # every frame, in the order it arrived
        self.system_lines: list[Frame] = []  # the transcript's system lines pushed to it
        self._connection_id: str | None = None

    @property
    def connection_id(self) -> str:
        if self._connection_id is None:
            self._connection_id = self.ping()["connection_id"]
        return self._connection_id

    def send(self, action: str, **fields: Any) -> None:
        self.client.send(json.dumps({"action": action, **fields}))

    def send_raw(self, text: str) -> None:
        self.client.send(text)

    def _receive(self, timeout: float) -> Frame:
        frame = json.loads(self.client.recv(timeout=timeout))
        self.received.append(frame)
        return frame

    def expect(self, type_: str | tuple[str, ...], timeout: float = TIMEOUT, **fields: Any) -> Frame:
        """The first frame of ``type_`` (or of one of several types) whose top-level ``fields``
        equal those given, from what already arrived or what arrives within ``timeout``."""
        types = (type_,) if isinstance(type_, str) else type_

        def matches(frame: Frame) -> bool:
            return frame.get("type") in types and all(frame.get(k) == v for k, v in fields.items())

        for index, frame in enumerate(self.pending):
            if matches(frame):
                return self.pending.pop(index)
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                frame = self._receive(remaining)
            except TimeoutError:
                break
            if frame.get("type") == "session.assigned" and frame.get("line"):
                self.system_lines.append(frame["line"])  # the "joined" line rides on the frame
            if is_system_line(frame):
                self.system_lines.append(frame["message"])
            elif matches(frame):
                return frame
            else:
                self.pending.append(frame)
        raise FrameTimeout(f"no {type_} frame matching {fields} within {timeout} s; "
                           f"received instead: {self.pending}")

    def expect_error(self, code: str, **fields: Any) -> Frame:
        return self.expect("error", code=code, **fields)

    def request(self, action: str, reply_type: str | tuple[str, ...], **fields: Any) -> Frame:
        """Send an action and return its reply."""
        self.send(action, **fields)
        return self.expect(reply_type)

    def ping(self) -> Frame:
        self.send("ping")
        pong = self.expect("pong")
        self._connection_id = pong["connection_id"]
        return pong

    def sync(self) -> list[Frame]:
        """Everything received up to now: ping, and take every frame that came before the pong."""
        self.send("ping")
        self.expect("pong")
        frames, self.pending = self.pending, []
        return frames

    def send_message(self, session_id: str, text: str, client_msg_id: str | None = None) -> Frame:
        """Send a chat message and return the ``message`` of its ack."""
        client_msg_id = client_msg_id or f"c-{uuid.uuid4().hex}"
        self.send("send_message", session_id=session_id, client_msg_id=client_msg_id, text=text)
        return self.expect("message.ack", client_msg_id=client_msg_id)["message"]


    def session_frames(self, session_id: str) -> list[Frame]:
        """The frames about ``session_id``'s state received so far, in arrival order."""
        return [f for f in self.received
                if f.get("type", "").startswith("session.") and f.get("session_id") == session_id]


def is_system_line(frame: Frame) -> bool:
    return frame.get("type") == "message.new" and frame.get("message", {}).get("sender", {}).get("type") == "system"


def said(messages: list[Frame]) -> list[Frame]:
    """The messages people wrote, without the transcript's system lines."""
    return [m for m in messages if m["sender"]["type"] != "system"]


# ---- the client's rule for session frames (docs/protocol.md, "Session versions") --------------

def frame_key(frame: Frame) -> tuple[int, int] | None:
    """A session frame's order: (version, position_seq); None for a frame without a version."""
    if not isinstance(frame.get("version"), int):
        return None
    return frame["version"], int(frame.get("position_seq") or 0)


class SessionView:
    """What a client following the protocol shows for each session: the newest session frame."""

    def __init__(self) -> None:
        self.current: dict[str, Frame] = {}
        self.keys: dict[str, tuple[int, int]] = {}

    def apply(self, frame: Frame) -> bool:
        """Apply ``frame`` unless it is stale; True when it was applied."""
        session_id = frame["session_id"]
        key = frame_key(frame)
        held = self.keys.get(session_id)
        if key is not None and held is not None and key < held:
            return False
        if key is not None:
            self.keys[session_id] = key
        self.current[session_id] = frame
        return True

    def shown(self, frames: list[Frame], session_id: str) -> Frame:
        for frame in frames:
            self.apply(frame)
        return self.current[session_id]


@contextlib.contextmanager
def before_push(action: Callable[[], Any], when: Callable[[Frame], bool]) -> Iterator[list[Frame]]:
    """Just before the next ``@connections`` post of a frame matching ``when`` goes out (through
    the app's own client, in this process), ``action()`` runs once: what it does lands first.
    Yields the frames that were held back so."""
    held: list[Frame] = []

    def hold(params: dict[str, Any], **_: Any) -> None:
        frame = json.loads(params.get("body") or b"{}")
        if held or not when(frame):
            return
        held.append(frame)  # taken before acting: the action's own posts pass straight through
        action()

    events = push.management_client().meta.events
    events.register_first("before-call.apigatewaymanagementapi.PostToConnection", hold)
    try:
        yield held
    finally:
        events.unregister("before-call.apigatewaymanagementapi.PostToConnection", hold)


# ---- people -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Person:
    """A visitor or an agent: who they are and the token they connect and call the API with."""

    id: str
    name: str
    token: str


def api(stack: Stack, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, f"{stack.rest_url}{path}", headers=headers, timeout=30, **kwargs)


def sign_up_visitor(stack: Stack, name: str) -> Person:
    response = api(stack, "POST", "/api/visitors", json={"name": name})
    assert response.status_code == 201, response.text
    body = response.json()
    return Person(body["visitor_id"], name, body["token"])


def log_in(stack: Stack, username: str, password: str) -> dict[str, Any]:
    response = api(stack, "POST", "/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return dict(response.json())


def admin_token(stack: Stack) -> str:
    """The stack's seeded admin, logged in (seeded again: tests empty the tables)."""
    assert stack.admin is not None and stack.admin.password is not None
    agents.ensure_admin(stack.admin.username, stack.admin.password)
    return str(log_in(stack, stack.admin.username, stack.admin.password)["token"])


def create_agent(stack: Stack, admin: str, name: str, max_concurrent: int = 5) -> Person:
    """An agent created by the admin through the API, then logged in."""
    username = f"{name.lower()}-{uuid.uuid4().hex[:8]}"
    password = "correct horse battery"
    response = api(stack, "POST", "/api/agents", admin, json={
        "username": username, "password": password, "display_name": name,
        "max_concurrent": max_concurrent})
    assert response.status_code == 201, response.text
    login = log_in(stack, username, password)
    return Person(login["agent"]["agent_id"], name, str(login["token"]))


def agent_account(name: str, max_concurrent: int = 5) -> Person:
    """An agent created through the service layer and given a token without a login: the quick
    way, for tests about something else than accounts."""
    agent = agents.create_agent(f"{name.lower()}-{uuid.uuid4().hex[:8]}", "correct horse battery",
                                display_name=name, max_concurrent=max_concurrent)
    token, _ = tokens.issue(Principal(agent.agent_id, "agent", "agent", name))
    return Person(agent.agent_id, name, token)


def set_status(stack: Stack, agent: Person, status: str) -> None:
    response = api(stack, "PUT", "/api/agents/me/status", agent.token, json={"status": status})
    assert response.status_code == 200, response.text


def stored_messages(stack: Stack, token: str, session_id: str) -> list[Frame]:
    """Every stored message people wrote in a session (not its system lines), oldest first, read
    through the REST API."""
    messages: list[Frame] = []
    before: str | None = None
    while True:
        params = {"limit": 100, **({"before": before} if before else {})}
        response = api(stack, "GET", f"/api/sessions/{session_id}/messages", token, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        messages.extend(page["messages"])
        before = page["next"]
        if before is None:
            return said(list(reversed(messages)))


def agent_overview(stack: Stack, token: str, agent_id: str) -> Frame:
    """The agent's row of ``GET /api/kefu/agents``. The listing comes from the directory index,
    which shows a new agent only once it has caught up: wait for the row, not for moto."""

    def row() -> Frame | None:
        response = api(stack, "GET", "/api/kefu/agents", token)
        assert response.status_code == 200, response.text
        return next((a for a in response.json()["agents"] if a["agent_id"] == agent_id), None)

    return wait_for(row)


Connect = Callable[[Person], Peer]


def go_online(stack: Stack, connect: Connect, agent: Person) -> Peer:
    """Open a socket for ``agent`` and set their status to online; returns the socket."""
    socket = connect(agent)
    set_status(stack, agent, "online")
    return socket


def online_agent(stack: Stack, connect: Connect, name: str, max_concurrent: int = 5) -> tuple[Person, Peer]:
    """A new agent with a live socket who has set their status to online."""
    agent = agent_account(name, max_concurrent)
    return agent, go_online(stack, connect, agent)


@dataclass(frozen=True)
class Conversation:
    """A visitor and the agent their session was assigned to, each with one socket."""

    agent: Person
    agent_socket: Peer
    visitor: Person
    visitor_socket: Peer
    session_id: str


def open_conversation(stack: Stack, connect: Connect) -> Conversation:
    agent, agent_socket = online_agent(stack, connect, "Alice")
    visitor = sign_up_visitor(stack, "Victor")
    visitor_socket = connect(visitor)
    visitor_socket.send("start_session", topic="billing")
    session_id = visitor_socket.expect("session.assigned")["session_id"]
    agent_socket.expect("session.assigned", session_id=session_id)
    return Conversation(agent, agent_socket, visitor, visitor_socket, session_id)


def empty_the_stack(stack: Stack) -> None:
    """Start a test from empty tables, once the previous test's sockets are gone and their
    ``$disconnect`` handlers have finished (a table reset under a running handler fails it, or lets
    it write into the next test's tables)."""
    wait_for(stack.gateway.is_idle)
    reset_tables()
