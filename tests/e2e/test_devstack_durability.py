"""``make run`` keeps what it acknowledged (issue 18, part 6): ``kill -9`` right after the last
acknowledged answer loses no sign-up, no message and no session end, because the embedded DynamoDB
journals every write before answering; ``--fresh`` moves the old data aside instead of deleting it."""

from __future__ import annotations

import json
import os
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from websockets.sync.client import connect

from tests.e2e.protocol_helpers import Frame, Peer
from tests.e2e.test_local_stack import _free_port, _start_devstack, _stop_devstack

VISITORS = 9
MESSAGES_EACH = 3
ATTEMPTS = 5


@dataclass
class Visitor:
    """What the stack acknowledged to one visitor."""

    token: str
    session_id: str = ""
    messages: list[str] = field(default_factory=list)  # client_msg_ids acknowledged
    ended: bool = False


def _environment(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEFU_", "POWERTOOLS_", "AWS_"))}
    env.update({"KEFU_HTTP_PORT": str(_free_port()), "KEFU_WS_PORT": str(_free_port()),
                "KEFU_WS_MGMT_PORT": str(_free_port()), "KEFU_DATA_DIR": str(data_dir),
                "KEFU_SCHEDULES": "0", **extra})
    return env


def _urls(banner: str) -> tuple[str, str]:
    rest = re.search(r"REST\s+(http://\S+)", banner)
    ws = re.search(r"WebSocket\s+(ws://\S+)\?token=", banner)
    assert rest and ws, banner
    return rest.group(1), ws.group(1)


def _until_answered(peer: Peer, reply: str, action: str, **fields: Any) -> Frame:
    """Send ``action`` until it is answered with ``reply``: the local DynamoDB misbehaves as AWS
    does, so an attempt may fail (both actions used this way are idempotent)."""
    for _ in range(ATTEMPTS):
        peer.send(action, **fields)
        frame = peer.expect((reply, "error"), timeout=15, **({"client_msg_id": fields["client_msg_id"]}
                                                             if "client_msg_id" in fields else {}))
        if frame["type"] == reply:
            return frame
    raise AssertionError(f"{action} was never answered with {reply}: {frame}")


def _until_ended(peer: Peer, session_id: str) -> None:
    """End the session over the socket; after a failed attempt the session may be ended already
    (the failure was a lost answer), which reading it tells."""
    for _ in range(ATTEMPTS):
        peer.send("end_session", session_id=session_id)
        if peer.expect(("session.ended", "error"), timeout=15)["type"] == "session.ended":
            return
        peer.send("get_session", session_id=session_id)
        if peer.expect(("session.queued", "session.assigned", "session.ended", "error"),
                       timeout=15)["type"] == "session.ended":
            return
    raise AssertionError(f"session {session_id} could not be ended")


def _retrying(call: Any, done: Any) -> requests.Response:
    for _ in range(ATTEMPTS):
        response = call()
        if done(response):
            return response
    raise AssertionError(f"{response.status_code}: {response.text}")


def _chat(rest_url: str, ws_url: str, index: int) -> Visitor:
    """Sign up, open a session, send messages, and end it (over the socket or REST) or leave it."""
    signed_up = _retrying(lambda: requests.post(f"{rest_url}/api/visitors", json={"name": f"durable {index}"},
                                                timeout=30),
                          lambda r: r.status_code == 201)
    visitor = Visitor(signed_up.json()["token"])
    headers = {"Authorization": f"Bearer {visitor.token}"}
    with connect(f"{ws_url}?token={visitor.token}", open_timeout=15, close_timeout=2) as client:
        peer = Peer(client)
        visitor.session_id = _until_answered(peer, "session.queued", "start_session")["session_id"]
        for n in range(MESSAGES_EACH):
            client_msg_id = f"m-{index}-{n}-{uuid.uuid4().hex[:8]}"
            _until_answered(peer, "message.ack", "send_message", session_id=visitor.session_id,
                            client_msg_id=client_msg_id, text=f"message {n} of visitor {index}")
            visitor.messages.append(client_msg_id)
        if index % 3 == 0:
            _until_ended(peer, visitor.session_id)
            visitor.ended = True
    if index % 3 == 1:
        session_url = f"{rest_url}/api/sessions/{visitor.session_id}"
        _retrying(lambda: requests.post(f"{session_url}/end", headers=headers, timeout=30),
                  lambda r: r.status_code == 200 or (  # 409: a lost answer had ended it; the read says so
                      r.status_code == 409
                      and requests.get(session_url, headers=headers, timeout=30).json().get("status") == "ended"))
        visitor.ended = True
    return visitor


def _stored(rest_url: str, visitor: Visitor) -> tuple[int, dict[str, Any], set[str]]:
    """(the status of a call only an existing visitor may make, the session, its messages' ids)."""
    headers = {"Authorization": f"Bearer {visitor.token}"}
    listed = requests.get(f"{rest_url}/api/sessions", headers=headers, timeout=30)
    if listed.status_code != 200:
        return listed.status_code, {}, set()
    session = requests.get(f"{rest_url}/api/sessions/{visitor.session_id}", headers=headers, timeout=30)
    history = requests.get(f"{rest_url}/api/sessions/{visitor.session_id}/messages", headers=headers,
                           params={"limit": 100}, timeout=30)
    messages = history.json().get("messages", []) if history.status_code == 200 else []
    return 200, session.json() if session.status_code == 200 else {}, {m["client_msg_id"] for m in messages}


def test_kill_9_right_after_the_last_answer_loses_nothing_that_was_acknowledged(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    process, banner = _start_devstack(_environment(data_dir), tmp_path / "first.log")
    try:
        rest_url, ws_url = _urls(banner)
        with ThreadPoolExecutor(4) as pool:
            visitors = list(pool.map(lambda i: _chat(rest_url, ws_url, i), range(VISITORS)))
    finally:
        process.kill()  # SIGKILL: no shutdown, no last snapshot
        process.wait(timeout=30)

    process, banner = _start_devstack(_environment(data_dir), tmp_path / "second.log")
    try:
        rest_url, _ = _urls(banner)
        lost_sign_ups, lost_messages, lost_ends = [], [], []
        for visitor in visitors:
            status, session, stored = _stored(rest_url, visitor)
            if status != 200:  # the visitor is gone, and with it all they did
                lost_sign_ups.append(visitor.token[-12:])
                lost_messages += visitor.messages
                lost_ends += [visitor.session_id] if visitor.ended else []
                continue
            lost_messages += [m for m in visitor.messages if m not in stored]
            if visitor.ended and session.get("status") != "ended":
                lost_ends.append(visitor.session_id)
    finally:
        _stop_devstack(process, tmp_path / "second.log")
    assert (lost_sign_ups, lost_messages, lost_ends) == ([], [], []), (
        f"lost {len(lost_sign_ups)} of {VISITORS} sign-ups, {len(lost_messages)} of "
        f"{VISITORS * MESSAGES_EACH} messages, {len(lost_ends)} of {sum(v.ended for v in visitors)} "
        "session ends")


def test_fresh_moves_the_old_data_aside_and_starts_empty(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    old = {"snapshot.json": json.dumps({
               "format": "kefu-devstack-snapshot", "version": 2, "saved_at": "2026-01-01T00:00:00+00:00",
               "journal_seq": 0, "tables": {"visitors": {"table_name": "kefu-local-visitors", "items": [
                   {"visitor_id": {"S": "v_before"}, "created_at": {"S": "2026-01-01T00:00:00Z"}}]}}}),
           "admin.json": json.dumps({"username": "admin", "password": "the old password"}),
           "jwt_secret": "the old secret",
           "journal/00000000000000000001.log": "journaled writes"}
    for name, text in old.items():
        (data_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (data_dir / name).write_text(text)

    process, banner = _start_devstack(_environment(data_dir, KEFU_FRESH="1"), tmp_path / "fresh.log")
    try:
        previous = re.search(r"^  previous\s+(\S+)", banner, re.MULTILINE)
        assert previous, banner
        assert "(created now)" in banner and "the old password" not in banner  # the tables start empty
    finally:
        _stop_devstack(process, tmp_path / "fresh.log")
    moved = Path(previous.group(1))
    assert moved.parent == data_dir and moved.name.startswith("previous-")
    assert {name: (moved / name).read_text() for name in old} == old  # nothing lost, nothing changed
    assert "v_before" not in (data_dir / "snapshot.json").read_text()
    assert (data_dir / "jwt_secret").read_text() != "the old secret"
