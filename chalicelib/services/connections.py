"""WebSocket connections and presence heartbeats."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import size

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.models import AgentModel, ConnectionModel, VisitorModel
from chalicelib.models.base import ModelT, conditional, get_or_none, retrying
from chalicelib.models.batch import get_all
from chalicelib.services.container import Recent
from chalicelib.services.tokens import Principal

# API Gateway closes a socket after 10 minutes without a frame from the client, and any socket
# after 2 hours; neither can be raised. A record older than either belongs to a closed socket.
API_GATEWAY_IDLE_TIMEOUT = 10 * 60
API_GATEWAY_MAX_CONNECTION = 2 * 3600


def register(connection_id: str, principal: Principal, source_ip: str | None,
             user_agent: str | None) -> ConnectionModel:
    """Record a new socket of ``principal``; it expires with API Gateway's 2-hour limit. This
    container vouches for it from now (``principal_for``): the record was refreshed by this write."""
    config = get_config()
    at = clock.epoch()
    connection = ConnectionModel(
        connection_id,
        user_id=principal.user_id,
        user_type=principal.typ,
        user_name=principal.name,
        role=principal.role,
        connected_at=clock.iso(),
        last_seen_at=at,
        source_ip=source_ip,
        user_agent=(user_agent or "")[:512] or None,
        expires_at=int(at + config.connection_ttl_seconds),
        token_gen=principal.gen,
    )
    retrying(connection.save)
    _holders.put(connection_id, (principal, source_ip))
    return connection


def principal_of(connection: ConnectionModel) -> Principal:
    return Principal(user_id=connection.user_id, typ=connection.user_type, role=connection.role,
                     name=connection.user_name, gen=int(connection.token_gen or 0))


def get(connection_id: str) -> ConnectionModel | None:
    """The live record of a connection, or None when unknown or expired."""
    try:
        connection = ConnectionModel.get(connection_id, consistent_read=True)
    except DoesNotExist:
        return None
    if connection.expires_at <= clock.epoch():
        return None
    return connection


def record_frame(connection_id: str) -> ConnectionModel | None:
    """A client frame refreshes the connection's heartbeat (the rate limit is per user:
    ``senders``); returns the record as written, None when it was removed meanwhile (left alone)."""
    connection = ConnectionModel(connection_id)
    if not conditional(lambda: connection.update(actions=[ConnectionModel.last_seen_at.set(clock.epoch())],
                                                 condition=ConnectionModel.connection_id.exists())):
        return None
    return connection


# connection id -> who holds the socket and the address it connected from (neither ever changes),
# put when this container last refreshed its record.
_holders: Recent[str, tuple[Principal, str | None]] = Recent(max_age=API_GATEWAY_IDLE_TIMEOUT)


def refresh_interval() -> float:
    """How often a container refreshes a socket's ``last_seen_at`` on the frames it serves: often
    enough that a record is never more than this behind the socket's last frame, far inside the
    heartbeat window that judges it live (and API Gateway's 10-minute idle timeout)."""
    return min(30.0, get_config().heartbeat_window_seconds / 3)


def principal_for(connection_id: str) -> Principal | None:
    """Who sent a frame on ``connection_id``, with the socket's record refreshed (``record_frame``)
    at most every ``refresh_interval`` seconds per container: in between, the holder this
    container learnt from the record answers without a call. None when the socket has no live
    record (it is closing, or was never registered)."""
    holder = _holders.get(connection_id, max_age=refresh_interval())
    if holder is not None:
        return holder[0]
    connection = record_frame(connection_id)
    if connection is None or connection.expires_at <= clock.epoch():
        _holders.forget(connection_id)
        return None
    principal = principal_of(connection)
    _holders.put(connection_id, (principal, connection.source_ip))
    return principal


def source_ip_of(connection_id: str) -> str | None:
    """The address the socket connected from (``register``), as this container learnt it with its
    holder, or read."""
    holder = _holders.get(connection_id)
    if holder is not None:
        return holder[1]
    connection = get(connection_id)
    return connection.source_ip if connection is not None else None


def forget_holder(connection_id: str) -> None:
    """This container no longer vouches for the socket (closed here, or found revoked)."""
    _holders.forget(connection_id)


def unregister(connection_id: str) -> ConnectionModel | None:
    """Delete a connection record; returns what it was, if anything."""
    forget_holder(connection_id)
    connection = get_or_none(ConnectionModel, connection_id)
    if connection is None:
        return None
    retrying(connection.delete)
    return connection


def is_open(connection_id: str) -> bool:
    """The socket's record exists (read consistently), has not expired and spoke within the
    heartbeat window."""
    connection = get_or_none(ConnectionModel, connection_id)
    return connection is not None and connection.is_live(get_config().heartbeat_window_seconds)


def is_closed(connection: ConnectionModel | None, at: float | None = None) -> bool:
    """API Gateway has certainly closed this socket: its record is gone (a socket joins its owner's
    set only after its record is written), expired, idle past the 10-minute idle timeout, or older
    than the 2-hour maximum. A socket merely silent past the heartbeat window (a laptop asleep) is
    still open: pushes must keep reaching it."""
    if connection is None:
        return True
    at = clock.epoch() if at is None else at
    return (connection.expires_at <= at or connection.last_seen_at < at - API_GATEWAY_IDLE_TIMEOUT
            or clock.epoch_of(connection.connected_at) < at - API_GATEWAY_MAX_CONNECTION)


def closed_among(connection_ids: set[str]) -> set[str]:
    """The ids among ``connection_ids`` whose socket is certainly closed (``is_closed``), on one
    consistent batch read."""
    if not connection_ids:
        return set()
    now = clock.epoch()
    open_ids = {c.connection_id for c in get_all(ConnectionModel, sorted(connection_ids)) if not is_closed(c, now)}
    return set(connection_ids) - open_ids


def _owner_model(user_type: str) -> type[AgentModel] | type[VisitorModel]:
    return VisitorModel if user_type == "visitor" else AgentModel


def sockets_of(user_id: str, user_type: str) -> set[str]:
    """The user's open sockets as their own item records them (consistent)."""
    owner = get_or_none(_owner_model(user_type), user_id)
    return set(owner.socket_ids or ()) if owner is not None else set()


def is_present(user_id: str, user_type: str) -> bool:
    """The user has a live socket, decided on consistent reads (never on the lagging index)."""
    return any(is_open(c) for c in sockets_of(user_id, user_type))


def room_for(model: type[AgentModel] | type[VisitorModel], cap: int | None):
    """Condition of the write that adds a socket to its owner's set: the owner exists and, with a
    ``cap``, holds fewer sockets than that. One conditional write, so concurrent connects cannot
    pass the cap."""
    condition = model._hash_key_attribute().exists()
    if cap is None:
        return condition
    return condition & (model.socket_ids.does_not_exist() | (size(model.socket_ids) < cap))


def add_visitor_socket(visitor_id: str, connection_id: str, cap: int | None = None) -> bool:
    """The socket joins the visitor's set of open sockets (idempotent); False when the visitor is
    gone or already holds ``cap`` sockets."""
    return conditional(lambda: VisitorModel(visitor_id).update(
        actions=[VisitorModel.socket_ids.add({connection_id})], condition=room_for(VisitorModel, cap)),
        already_done=lambda: holding(VisitorModel, visitor_id, connection_id) is not None)


def holding(model: type[ModelT], user_id: str, connection_id: str) -> ModelT | None:
    """The user as stored now, if their set of open sockets holds ``connection_id``: a capped join
    whose answer was lost and whose retry found the set full was this socket's own join."""
    owner = get_or_none(model, user_id)
    return owner if owner is not None and connection_id in (owner.socket_ids or set()) else None


def forget_sockets(user_id: str, user_type: str, connection_ids: set[str]) -> set[str] | None:
    """Take closed sockets off the user's set of open sockets; returns the ones left (None when
    the user no longer exists). The set lives on the user's item, so it is read consistently."""
    model = _owner_model(user_type)
    owner = model(user_id)
    if not conditional(lambda: owner.update(actions=[model.socket_ids.delete(connection_ids)],
                                            condition=model._hash_key_attribute().exists())):
        return None
    return set(owner.socket_ids or ())


def socket_left(user_id: str, user_type: str, connection_id: str | None) -> set[str] | None:
    """A socket of the user closed: it leaves their set, and so do the others API Gateway has
    certainly closed (their ``$disconnect`` never came). Returns the open sockets left (None when
    the user no longer exists)."""
    left = forget_sockets(user_id, user_type, {connection_id}) if connection_id else sockets_of(user_id, user_type)
    closed = closed_among(left or set())
    if closed:
        left = forget_sockets(user_id, user_type, closed)
    return left


def prune_closed(user_id: str, user_type: str) -> set[str]:
    """Take the sockets API Gateway has certainly closed off the user's set; the ones left."""
    return socket_left(user_id, user_type, None) or set()


def delete_if_closed(connection_id: str) -> ConnectionModel | None:
    """Delete the record of a socket API Gateway has certainly closed (``is_closed``), confirmed on a
    consistent read and by the delete's own condition, so a socket that spoke a moment ago (which
    a lagging index may still show idle) keeps its record. Returns the deleted record."""
    record = get_or_none(ConnectionModel, connection_id)
    now = clock.epoch()
    if record is None or not is_closed(record, now):
        return None
    oldest = clock.iso_from_epoch(now - API_GATEWAY_MAX_CONNECTION)
    still_closed = ((ConnectionModel.last_seen_at < now - API_GATEWAY_IDLE_TIMEOUT)
                    | (ConnectionModel.connected_at < oldest) | (ConnectionModel.expires_at <= int(now)))
    if not conditional(lambda: record.delete(condition=still_closed),
                       already_done=lambda: get_or_none(ConnectionModel, connection_id) is None):
        return None
    return record
