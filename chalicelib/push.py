"""The ``@connections`` client: post to one connection, fan out to users, clean up gone sockets.

Any function may push, not only WebSocket handlers: the management endpoint comes from
``KEFU_WS_MANAGEMENT_ENDPOINT`` (set for every function by the merged CloudFormation template in AWS,
and by the local stack), so REST handlers and scheduled jobs push exactly like ``on_ws_*`` handlers.
"""

from __future__ import annotations

import functools
import json
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import DeleteError

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.models import AgentModel, ConnectionModel, VisitorModel
from chalicelib.models.base import conditional, get_or_none
from chalicelib.models.batch import get_each
from chalicelib.models.clients import aws_client
from chalicelib.observability import count, logger
from chalicelib.services import wsstats


class PushStats:
    """Counters of what this container pushed; thread-safe, read by operations endpoints."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts = {"posted": 0, "gone": 0, "failed": 0}

    def add(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)


stats = PushStats()

# API Gateway answers 410 to a post until the socket's $connect has returned, but $connect records
# the socket (and adds it to its owner's set) before that. A $connect lasts at most API Gateway's
# 29-second integration timeout, so a 410 for a socket recorded more recently is not proof that it
# is gone.
CONNECT_SECONDS = 30


_clients_lock = threading.Lock()


def _client(endpoint: str) -> Any:
    """The ``@connections`` client for ``endpoint``, made once: threads posting together for the
    first time (the local stack's, in a burst) would each make one, and throw all but one away."""
    with _clients_lock:
        return _made_client(endpoint)


@functools.lru_cache(maxsize=4)
def _made_client(endpoint: str) -> Any:
    return aws_client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint,
        region_name=get_config().region,
        config=BotoConfig(retries={"max_attempts": 2, "mode": "standard"},
                          connect_timeout=2, read_timeout=5, max_pool_connections=50),
    )


_learned_endpoint: str | None = None


def learn_endpoint(domain_name: str, stage: str) -> None:
    """Fallback for a deployment without the env var: learn it from a WebSocket event."""
    global _learned_endpoint
    if _learned_endpoint is None and domain_name:
        _learned_endpoint = f"https://{domain_name}/{stage}"


def management_endpoint() -> str | None:
    return get_config().ws_management_endpoint or _learned_endpoint


def management_client() -> Any:
    endpoint = management_endpoint()
    if endpoint is None:
        raise RuntimeError("KEFU_WS_MANAGEMENT_ENDPOINT is not set and no WebSocket event was seen")
    return _client(endpoint)


def _is_gone(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code == "GoneException" or status == 410


def forget_connection(connection_id: str, owner: Any = None) -> bool:
    """A socket answered 410: its record goes, and it leaves ``owner``'s set of open sockets;
    unless it was recorded within ``CONNECT_SECONDS`` (its $connect may still be running), when
    both stay and this returns False."""
    cutoff = clock.iso_from_epoch(clock.epoch() - CONNECT_SECONDS)
    try:
        if not conditional(lambda: ConnectionModel(connection_id).delete(
                condition=ConnectionModel.connected_at.does_not_exist()
                | (ConnectionModel.connected_at < cutoff))):
            return False
    except DeleteError:
        logger.warning("could not delete gone connection", connection_id=connection_id)
    if owner is not None:
        conditional(lambda: owner.update(actions=[type(owner).socket_ids.delete({connection_id})],
                                         condition=type(owner).socket_ids.exists()))
    return True


def _owner_model(user_id: str) -> Any:
    return AgentModel if user_id.startswith("a_") else VisitorModel if user_id.startswith("v_") else None


def _owner_of(user_id: str) -> Any:
    """The agent or visitor item of ``user_id`` (read consistently), or None."""
    model = _owner_model(user_id)
    return get_or_none(model, user_id) if model is not None else None


def sockets_of(user_id: str) -> tuple[list[str], Any]:
    """The user's open sockets, from their own item (consistent: a socket opened a moment ago is
    there, unlike in the lagging ``by_user`` index), and that item; users without one fall back
    to the index."""
    owner = _owner_of(user_id)
    if owner is not None:
        return sorted(owner.socket_ids or ()), owner
    return [c.connection_id for c in ConnectionModel.for_user(user_id)], None


def owners_of(user_ids: Iterable[str]) -> dict[str, Any]:
    """The agent and visitor items of ``user_ids`` (read consistently), in one ``BatchGetItem``;
    users without an item are left out."""
    wanted = [(model, u) for u in dict.fromkeys(user_ids) if (model := _owner_model(u)) is not None]
    return {user_id: item for (_, user_id), item in get_each(wanted).items()}


def deliver(connection_id: str, payload: dict[str, Any], owner: Any = None) -> str:
    """Post one frame; the outcome is a ``wsstats`` counter name. A gone connection is deleted;
    one still in its $connect is left alone (the frame is lost to it, as a failed push)."""
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    try:
        management_client().post_to_connection(ConnectionId=connection_id, Data=data)
    except BotoCoreError as e:
        stats.add("failed")
        count("PushFailures")
        logger.warning("post failed", connection_id=connection_id, error=type(e).__name__)
        return "push_failures"
    except ClientError as e:
        if not _is_gone(e):
            logger.warning("post failed", connection_id=connection_id,
                           error=e.response.get("Error", {}).get("Code"))
        elif forget_connection(connection_id, owner):
            stats.add("gone")
            count("GoneConnections")
            logger.info("connection gone", connection_id=connection_id)
            return "gone_cleanups"
        else:
            logger.info("connection still in its $connect", connection_id=connection_id)
        stats.add("failed")
        count("PushFailures")
        return "push_failures"
    stats.add("posted")
    return "messages_pushed"


def record(outcomes: Counter[str]) -> None:
    """Record a tally of ``deliver`` outcomes (one statistics write for a whole fan-out)."""
    wsstats.record(**outcomes)


def post(connection_id: str, payload: dict[str, Any], owner: Any = None, **also_count: int) -> bool:
    """Post one frame. A gone connection is deleted (and leaves ``owner``'s socket set) and counted;
    it never fails the caller. ``also_count``: other ``wsstats`` counters to add in the same write
    (the frame a reply answers)."""
    outcome = deliver(connection_id, payload, owner)
    counts = Counter(also_count)
    counts[outcome] += 1
    wsstats.record(**counts)
    return outcome == "messages_pushed"


def close(connection_id: str) -> bool:
    """Close a socket through ``DELETE @connections/{id}``; False when it was already gone."""
    try:
        management_client().delete_connection(ConnectionId=connection_id)
    except ClientError as e:
        if _is_gone(e):
            return False
        raise
    return True


def describe(connection_id: str) -> dict[str, Any] | None:
    """What ``GET @connections/{id}`` reports (connectedAt, identity, lastActiveAt); None when gone."""
    try:
        answer = management_client().get_connection(ConnectionId=connection_id)
    except ClientError as e:
        if _is_gone(e):
            return None
        raise
    return {key: answer[key] for key in ("ConnectedAt", "Identity", "LastActiveAt") if key in answer}


def send_to_users(user_ids: Iterable[str], payload: dict[str, Any],
                  exclude_connection: str | None = None, known: dict[str, Any] | None = None) -> int:
    """Fan out to every live connection of each user (all tabs); returns how many got it.

    Each user's open sockets are the set on their own item: ``known`` holds items the caller
    already has as they stand (its write answered with them, or its transaction's condition held
    them), the others are read consistently, all in one batch."""
    users = list(dict.fromkeys(u for u in user_ids if u))
    owners = {u: item for u, item in (known or {}).items() if u in users}
    missing = [u for u in users if u not in owners]
    if missing:
        owners |= owners_of(missing)
    outcomes: Counter[str] = Counter()
    for user_id in users:
        owner = owners.get(user_id)
        connection_ids = (sorted(owner.socket_ids or ()) if owner is not None
                          else [c.connection_id for c in ConnectionModel.for_user(user_id)])
        for connection_id in connection_ids:
            if connection_id == exclude_connection:
                continue
            outcomes[deliver(connection_id, payload, owner)] += 1
    wsstats.record(**outcomes)  # counted in this container, merged at most once a second
    return outcomes["messages_pushed"]
