"""The local stack behaves like the deployed one where the app depends on it: REST with our gateway
responses, WebSocket events shaped like API Gateway's, the ``@connections`` API as boto3 sees it,
AWS's limits, and a lossy ``$disconnect``."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from chalicelib.config import TABLE_KEYS
from chalicelib.services import connections, tokens
from devstack import Stack
from tests.e2e.conftest import Connect, abort, agent_token, ping, recv_json, wait_for

PROJECT_DIR = Path(__file__).resolve().parents[2]


# ---- REST --------------------------------------------------------------------------------------

def test_health_answers_200_with_a_check_per_table_for_an_admin(stack: Stack) -> None:
    response = requests.get(f"{stack.rest_url}/api/system/health", timeout=10,
                            headers={"Authorization": f"Bearer {agent_token('admin')}"})

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {c["name"] for c in body["checks"]} == {f"table:{key}" for key in TABLE_KEYS}
    assert all(c["ok"] for c in body["checks"])


def test_missing_token_is_401_unauthorized(stack: Stack) -> None:
    response = requests.get(f"{stack.rest_url}/api/system/info", timeout=10)

    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "message": "missing token"}


def test_rejected_token_is_401_invalid_token(stack: Stack) -> None:
    response = requests.get(f"{stack.rest_url}/api/system/info",
                            headers={"Authorization": "Bearer forged"}, timeout=10)

    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token",
                               "message": "token is invalid, expired or not accepted here"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer whatever"}])
def test_unknown_route_is_404_not_found(stack: Stack, headers: dict[str, str]) -> None:
    response = requests.get(f"{stack.rest_url}/api/no/such/route", headers=headers, timeout=10)

    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": "no such route"}


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_a_content_length_that_is_not_a_number_is_400_not_a_dropped_connection(stack: Stack, method: str) -> None:
    host, port = stack.rest_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(f"{method} /api/stats/websocket HTTP/1.1\r\nHost: kefu\r\nContent-Length: 12 bytes\r\n\r\n"
                    .encode())
        answer = raw.makefile("rb").read().decode()

    head, _, body = answer.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.") and " 400 " in head.splitlines()[0], head
    assert json.loads(body)["error"] == "bad_request"


def test_valid_token_reaches_the_view(stack: Stack) -> None:
    response = requests.get(f"{stack.rest_url}/api/system/info",
                            headers={"Authorization": f"Bearer {agent_token()}"}, timeout=10)

    assert response.status_code == 200
    assert response.json()["management_endpoint"] == stack.management_endpoint


def test_concurrent_requests_each_see_their_own_caller(stack: Stack) -> None:
    callers = [agent_token(role="agent") for _ in range(8)] * 5

    def whoami(token: str) -> tuple[str, str]:
        response = requests.get(f"{stack.rest_url}/api/agents/me",
                                headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert response.status_code == 200, response.text
        return tokens.verify(token).user_id, response.json()["agent_id"]

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so a shared current_request would show
    try:
        with ThreadPoolExecutor(max_workers=len(callers)) as pool:
            answers = list(pool.map(whoami, callers))
    finally:
        sys.setswitchinterval(interval)

    assert all(expected == seen for expected, seen in answers)


# ---- WebSocket: handshake and frames ---------------------------------------------------------------

def test_ping_is_answered_with_pong(ws_connect: Connect) -> None:
    client = ws_connect(agent_token())

    pong = ping(client)

    assert pong["type"] == "pong"
    assert re.fullmatch(r"[A-Za-z0-9]{15}=", pong["connection_id"])
    assert pong["server_time"]


@pytest.mark.parametrize("query", ["", "?token=", "?token=forged"])
def test_connect_without_a_valid_token_is_rejected_with_403(stack: Stack, query: str) -> None:
    with pytest.raises(InvalidStatus) as rejected:
        connect(f"{stack.ws_url}{query}", open_timeout=10)

    assert rejected.value.response.status_code == 403


def test_events_have_api_gateways_shape(stack: Stack, ws_connect: Connect) -> None:
    with stack.gateway.capture_events() as events:
        client = ws_connect(agent_token(), user_agent_header="kefu-e2e")
        connection_id = ping(client)["connection_id"]
        client.close()

        def own() -> list[dict[str, Any]]:  # a late $disconnect of an earlier test's socket is not ours
            return [e for e in events if e["requestContext"]["connectionId"] == connection_id]

        wait_for(lambda: any(e["requestContext"]["eventType"] == "DISCONNECT" for e in own()))

    connect_event, message_event, disconnect_event = own()
    connected = APIGatewayWebSocketConnectEventModel.model_validate(connect_event)
    message = APIGatewayWebSocketMessageEventModel.model_validate(message_event)
    disconnected = APIGatewayWebSocketDisconnectEventModel.model_validate(disconnect_event)
    assert {connected.request_context.connection_id, message.request_context.connection_id,
            disconnected.request_context.connection_id} == {connection_id}
    assert connect_event["queryStringParameters"]["token"]
    assert connected.request_context.identity.user_agent == "kefu-e2e"
    assert message.request_context.route_key == "$default"
    assert json.loads(message.body) == {"action": "ping"}
    assert disconnected.request_context.disconnect_status_code == 1000


def test_frame_over_128_kb_closes_the_socket_with_1009(ws_connect: Connect) -> None:
    client = ws_connect(agent_token())

    client.send("x" * (128 * 1024 + 1))

    with pytest.raises(ConnectionClosed) as closed:
        client.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_frame_of_exactly_128_kb_reaches_the_app(ws_connect: Connect) -> None:
    client = ws_connect(agent_token())
    frame = json.dumps({"action": "ping", "pad": ""})
    frame = frame.replace('""', '"' + "x" * (128 * 1024 - len(frame)) + '"')
    assert len(frame.encode()) == 128 * 1024

    client.send(frame)

    assert recv_json(client)["type"] in ("pong", "error")  # the app answers; the socket stays up
    assert ping(client)["type"] == "pong"


def test_binary_frame_closes_the_socket_with_1003(ws_connect: Connect) -> None:
    client = ws_connect(agent_token())

    client.send(b"\x00\x01")

    with pytest.raises(ConnectionClosed) as closed:
        client.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003


def test_idle_connection_is_closed_with_1001(stack: Stack, ws_connect: Connect) -> None:
    stack.gateway.idle_timeout = 0.5
    try:
        with stack.gateway.capture_events() as events:
            client = ws_connect(agent_token())
            connected = wait_for(lambda: [e for e in events if e["requestContext"]["eventType"] == "CONNECT"])
            connection_id = connected[0]["requestContext"]["connectionId"]
            with pytest.raises(ConnectionClosed) as closed:
                client.recv(timeout=5)

            def own_disconnect() -> list:
                # Other tests' sockets may close meanwhile: look only at this connection's events.
                return [e for e in events if e["requestContext"]["eventType"] == "DISCONNECT"
                        and e["requestContext"]["connectionId"] == connection_id]

            disconnected = wait_for(own_disconnect)
    finally:
        stack.gateway.idle_timeout = 600

    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert disconnected[0]["requestContext"]["disconnectStatusCode"] == 1001


def test_connection_is_closed_after_its_maximum_duration_even_when_active(stack: Stack,
                                                                           ws_connect: Connect) -> None:
    stack.gateway.max_duration = 1.0
    try:
        client = ws_connect(agent_token())
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(50):
                ping(client)
                time.sleep(0.1)
    finally:
        stack.gateway.max_duration = 2 * 60 * 60

    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001


def test_a_connection_cannot_be_posted_to_before_connect_succeeds(stack: Stack, ws_connect: Connect,
                                                                  management: Any) -> None:
    outcomes: list[str] = []

    def post_during_connect(event: dict[str, Any]) -> None:
        if event["requestContext"]["eventType"] != "CONNECT":
            return
        try:
            management.post_to_connection(ConnectionId=event["requestContext"]["connectionId"], Data=b"{}")
            outcomes.append("posted")
        except management.exceptions.GoneException:
            outcomes.append("gone")

    stack.gateway.add_event_listener(post_during_connect)
    try:
        client = ws_connect(agent_token())
    finally:
        stack.gateway.remove_event_listener(post_during_connect)

    assert outcomes == ["gone"]
    assert ping(client)["type"] == "pong"


# ---- the @connections API through boto3 ---------------------------------------------------------------

def test_post_reaches_the_client(ws_connect: Connect, management: Any) -> None:
    client = ws_connect(agent_token())
    connection_id = ping(client)["connection_id"]

    management.post_to_connection(ConnectionId=connection_id, Data=b'{"type":"hello"}')

    assert recv_json(client) == {"type": "hello"}


def test_get_describes_the_connection(ws_connect: Connect, management: Any) -> None:
    client = ws_connect(agent_token(), user_agent_header="kefu-e2e")
    connection_id = ping(client)["connection_id"]

    described = management.get_connection(ConnectionId=connection_id)

    assert described["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "kefu-e2e"}
    assert described["ConnectedAt"] <= described["LastActiveAt"]


def test_delete_closes_the_socket_and_fires_disconnect(stack: Stack, ws_connect: Connect,
                                                       management: Any) -> None:
    client = ws_connect(agent_token())
    connection_id = ping(client)["connection_id"]

    management.delete_connection(ConnectionId=connection_id)

    with pytest.raises(ConnectionClosed):
        client.recv(timeout=5)
    wait_for(lambda: connections.get(connection_id) is None)  # $disconnect unregistered it


def test_post_to_a_closed_connection_raises_gone(ws_connect: Connect, management: Any) -> None:
    client = ws_connect(agent_token())
    connection_id = ping(client)["connection_id"]
    client.close()

    def gone() -> bool:
        try:
            management.post_to_connection(ConnectionId=connection_id, Data=b"{}")
        except management.exceptions.GoneException:
            return True
        return False

    assert wait_for(gone)
    with pytest.raises(management.exceptions.GoneException):
        management.get_connection(ConnectionId=connection_id)


def test_unknown_id_is_gone_with_or_without_the_stage_in_the_path(stack: Stack, management: Any) -> None:
    import boto3

    without_stage = boto3.client("apigatewaymanagementapi", region_name="us-east-1",
                                 endpoint_url=stack.management_endpoint.rsplit("/", 1)[0])
    for client in (management, without_stage):
        with pytest.raises(client.exceptions.GoneException):
            client.post_to_connection(ConnectionId="Tsp6ze4uoAMCJOQ=", Data=b"{}")


def test_post_over_128_kb_is_413(ws_connect: Connect, management: Any) -> None:
    client = ws_connect(agent_token())
    connection_id = ping(client)["connection_id"]

    with pytest.raises(ClientError) as refused:
        management.post_to_connection(ConnectionId=connection_id, Data=b"x" * (128 * 1024 + 1))

    assert refused.value.response["Error"]["Code"] == "PayloadTooLargeException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


# ---- best-effort $disconnect -----------------------------------------------------------------------------

def test_a_killed_socket_fires_disconnect_with_1006(stack: Stack, ws_connect: Connect) -> None:
    client = ws_connect(agent_token())
    connection_id = ping(client)["connection_id"]

    with stack.gateway.capture_events() as events:
        abort(client)
        wait_for(lambda: events)

    assert events[0]["requestContext"]["disconnectStatusCode"] == 1006
    wait_for(lambda: connections.get(connection_id) is None)


def test_lost_disconnect_leaves_the_record_behind(stack: Stack, ws_connect: Connect,
                                                  management: Any) -> None:
    client = ws_connect(agent_token())
    connection_id = ping(client)["connection_id"]
    stack.gateway.lose_disconnect_ids.add(connection_id)

    with stack.gateway.capture_events() as events:
        abort(client)
        wait_for(lambda: connection_id not in stack.gateway.connection_ids())
        time.sleep(0.3)

    assert events == []
    assert connections.get(connection_id) is not None  # only a sweep or a 410 will remove it
    with pytest.raises(management.exceptions.GoneException):
        management.post_to_connection(ConnectionId=connection_id, Data=b"{}")


def test_lose_disconnects_drops_every_disconnect(stack: Stack, ws_connect: Connect) -> None:
    client = ws_connect(agent_token())
    connection_id = ping(client)["connection_id"]
    stack.gateway.lose_disconnects = True
    try:
        with stack.gateway.capture_events() as events:
            client.close()
            wait_for(lambda: connection_id not in stack.gateway.connection_ids())
            time.sleep(0.3)
    finally:
        stack.gateway.lose_disconnects = False

    assert events == []
    assert connections.get(connection_id) is not None


# ---- python -m devstack ----------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_devstack(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start the stack as ``make run`` does; returns the process and its banner."""
    log_file = log_path.open("ab")
    process = subprocess.Popen([sys.executable, "-m", "devstack"], cwd=PROJECT_DIR, env=env,
                               stdout=log_file, stderr=subprocess.STDOUT)
    log_file.close()
    deadline = time.monotonic() + 90  # a start, not a speed check: the machine may be loaded
    while time.monotonic() < deadline:
        output = log_path.read_text(errors="replace")
        if "Ctrl-C stops it." in output:
            return process, output
        if process.poll() is not None:
            pytest.fail(f"python -m devstack exited with {process.returncode}:\n{output}")
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"python -m devstack did not start within 90 s:\n{log_path.read_text()}")


def _stop_devstack(process: subprocess.Popen[bytes], log_path: Path) -> None:
    process.send_signal(signal.SIGINT)
    try:
        assert process.wait(timeout=30) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
    assert log_path.read_text().rstrip().endswith("stopped.")


def _login(rest_url: str, username: str, password: str) -> str:
    response = requests.post(f"{rest_url}/api/auth/login", json={"username": username, "password": password},
                             timeout=10)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def test_python_m_devstack_serves_persists_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ports = {"KEFU_HTTP_PORT": _free_port(), "KEFU_WS_PORT": _free_port(), "KEFU_WS_MGMT_PORT": _free_port()}
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KEFU_", "POWERTOOLS_")) and k != "AWS_ENDPOINT_URL_DYNAMODB"}
    env.update({name: str(port) for name, port in ports.items()})
    env.update({"KEFU_DATA_DIR": str(data_dir), "KEFU_ADMIN_USERNAME": "boss"})
    rest_url = f"http://127.0.0.1:{ports['KEFU_HTTP_PORT']}"
    ws_url = f"ws://127.0.0.1:{ports['KEFU_WS_PORT']}/api"

    process, banner = _start_devstack(env, tmp_path / "first.log")
    try:
        assert requests.get(f"{rest_url}/api/system/health", timeout=10).status_code == 200
        admin = re.search(r"admin\s+boss / (\S+) \(created now\)", banner)
        assert admin, banner
        token = _login(rest_url, "boss", admin.group(1))
        with connect(f"{ws_url}?token={token}", open_timeout=10) as client:
            assert ping(client)["type"] == "pong"
    finally:
        _stop_devstack(process, tmp_path / "first.log")

    snapshot = data_dir / "snapshot.json"
    assert snapshot.exists()
    assert '"boss"' in snapshot.read_text()

    process, banner = _start_devstack(env, tmp_path / "second.log")
    try:
        assert f"admin        boss / {admin.group(1)}\n" in banner  # shown again, not re-created
        _login(rest_url, "boss", admin.group(1))  # the admin came back from the snapshot
        with connect(f"{ws_url}?token={token}", open_timeout=10) as client:  # same JWT secret
            assert ping(client)["type"] == "pong"
    finally:
        _stop_devstack(process, tmp_path / "second.log")
