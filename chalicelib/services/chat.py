"""Conversations: sessions, messages, history, read receipts, typing, ratings.

Permissions live here so REST and WebSocket enforce the same rules: a visitor sees only their
own sessions, an agent only the sessions assigned to them, an admin all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, UpdateError

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.errors import Conflict, Forbidden, NotFound, ValidationFailed
from chalicelib.models import CounterModel, MessageKeyModel, MessageModel, SessionModel
from chalicelib.models.base import CONDITION_FAILED, Transaction, is_condition_failure
from chalicelib.models.session import OPEN_STATUSES
from chalicelib.observability import count, logger
from chalicelib.services import assignment, notify
from chalicelib.services.tokens import Principal

MAX_PAGE = 100


def _open_claim_key(visitor_id: str) -> str:
    return f"open-session#{visitor_id}"


def get_session(session_id: str) -> SessionModel:
    return SessionModel.fetch(session_id)


def can_access(principal: Principal, session: SessionModel) -> bool:
    if principal.is_admin:
        return True
    if principal.typ == "visitor":
        return session.visitor_id == principal.user_id
    return session.agent_id == principal.user_id


def session_for(principal: Principal, session_id: str) -> SessionModel:
    """The session if ``principal`` may see it; ``not_found`` / ``forbidden`` otherwise."""
    session = get_session(session_id)
    if not can_access(principal, session):
        raise Forbidden("you are not a participant of this session")
    return session


def _party(principal: Principal, session: SessionModel) -> str:
    """Which side ``principal`` speaks for in ``session``: visitor or agent (admins as agent)."""
    return "visitor" if principal.typ == "visitor" else "agent"


# --- sessions ---------------------------------------------------------------------------------


@dataclass
class SessionState:
    session: SessionModel
    position: int | None = None
    announced: bool = False  # the participants were already sent this state

    def frame(self) -> dict[str, Any]:
        s = self.session
        if s.status == "active":
            return {"type": "session.assigned", "session_id": s.session_id,
                    "agent": notify.agent_ref(s.agent_id, s.agent_name),
                    "customer": {"id": s.visitor_id, "name": s.visitor_name}, "topic": s.topic}
        if s.status == "queued":
            return {"type": "session.queued", "session_id": s.session_id, "position": self.position}
        return {"type": "session.ended", "session_id": s.session_id, "ended_by": s.ended_by,
                "reason": s.end_reason}


def open_session_of(visitor_id: str) -> SessionModel | None:
    """The visitor's open session, through the claim that makes it unique."""
    try:
        claim = CounterModel.get(_open_claim_key(visitor_id), consistent_read=True)
    except DoesNotExist:
        return None
    try:
        session = get_session(claim.ref)
    except NotFound:
        return None
    return session if session.is_open else None


def start_session(principal: Principal, topic: str | None = None) -> SessionState:
    """Open a conversation for a visitor, or return the one already open (one at a time)."""
    if principal.typ != "visitor":
        raise Forbidden("only visitors start sessions")
    return start_session_for(principal.user_id, principal.name, topic)


def start_session_for(visitor_id: str, visitor_name: str | None, topic: str | None = None,
                      _attempt: int = 0) -> SessionState:
    existing = open_session_of(visitor_id)
    if existing is not None:
        return _state_of(existing)
    now = clock.iso()
    session = SessionModel(
        f"s_{uuid.uuid4().hex}",
        visitor_id=visitor_id,
        visitor_name=visitor_name,
        status="queued",
        topic=topic,
        created_at=now,
        created_day=now[:10],
        queued_at=now,
        message_count=0,
        transfer_count=0,
    )
    claim = CounterModel(_open_claim_key(visitor_id), ref=session.session_id)
    tx = Transaction()
    tx.put("claim", claim, condition=CounterModel.name.does_not_exist())
    tx.put("session", session, condition=SessionModel.session_id.does_not_exist())
    failed = tx.commit()
    if failed and _attempt >= 3:
        raise Conflict("could not open a session right now; try again")
    if failed:
        if "claim" not in failed:
            return start_session_for(visitor_id, visitor_name, topic, _attempt + 1)  # a conflict: retry
        existing = open_session_of(visitor_id)
        if existing is None:
            _drop_stale_claim(visitor_id)
            return start_session_for(visitor_id, visitor_name, topic, _attempt + 1)
        return _state_of(existing)
    logger.info("session started", session_id=session.session_id, visitor_id=visitor_id)
    outcome = assignment.place_new_session(session)
    return SessionState(outcome.session, outcome.position, announced=True)


def _drop_stale_claim(visitor_id: str) -> None:
    """A claim pointing at a closed session (a crash between writes): remove it, conditionally."""
    try:
        claim = CounterModel.get(_open_claim_key(visitor_id), consistent_read=True)
    except DoesNotExist:
        return
    try:
        claim.delete(condition=CounterModel.ref == claim.ref)
    except DeleteError as e:
        if not is_condition_failure(e):
            raise  # a condition failure means a concurrent start replaced it: theirs wins


def release_open_claim(session: SessionModel) -> None:
    """After a session closes, the visitor may open a new one."""
    try:
        CounterModel(_open_claim_key(session.visitor_id)).delete(
            condition=CounterModel.ref == session.session_id)
    except DeleteError as e:
        if not is_condition_failure(e):
            raise  # a condition failure means it was already released or replaced


def _state_of(session: SessionModel) -> SessionState:
    return SessionState(session, assignment.position_of(session))


def state_for(principal: Principal, session_id: str) -> SessionState:
    return _state_of(session_for(principal, session_id))


def end_session(principal: Principal, session_id: str) -> SessionModel:
    session = session_for(principal, session_id)
    if not session.is_open:
        raise Conflict("session already ended")
    return assignment.end_session(session, ended_by=principal.user_id,
                                  reason=f"ended_by_{_party(principal, session)}")


def rate_session(principal: Principal, session_id: str, rating: int, comment: str | None) -> SessionModel:
    """The visitor's one rating, after the session ended."""
    if principal.typ != "visitor":
        raise Forbidden("only the customer rates a session")
    session = session_for(principal, session_id)
    if session.is_open:
        raise Conflict("a session can be rated once it has ended")
    if not 1 <= rating <= 5:
        raise ValidationFailed("rating must be between 1 and 5")
    actions = [SessionModel.rating.set(rating)]
    if comment:
        actions.append(SessionModel.rating_comment.set(comment))
    try:
        session.update(actions=actions, condition=SessionModel.rating.does_not_exist()
                       & SessionModel.status.is_in("ended", "abandoned"))
    except UpdateError as e:
        if is_condition_failure(e):
            raise Conflict("this session was already rated") from e
        raise
    notify.to_users([session.agent_id], {"type": "session.rated", "session_id": session_id,
                                         "rating": rating, "comment": comment})
    return session


def list_sessions(principal: Principal, status: str | None = None, agent_id: str | None = None,
                  limit: int = 50) -> list[SessionModel]:
    """Newest first. Visitors and agents get their own; admins may filter by status or agent."""
    if principal.typ == "visitor":
        items = SessionModel.by_visitor.query(principal.user_id, scan_index_forward=False)
    elif principal.is_admin and agent_id:
        items = SessionModel.by_agent.query(agent_id, scan_index_forward=False)
    elif principal.is_admin and status:
        return list(SessionModel.by_status.query(status, scan_index_forward=False, limit=limit))
    else:
        items = SessionModel.by_agent.query(principal.user_id, scan_index_forward=False)
    sessions = []
    for session in items:
        if status is None or session.status == status:
            sessions.append(session)
            if len(sessions) >= limit:
                break
    return sessions


# --- messages -----------------------------------------------------------------------------------


def _dedup_key(sender_id: str, client_msg_id: str) -> str:
    return f"{sender_id}#{client_msg_id}"


def _existing_message(sender_id: str, client_msg_id: str, session_id: str) -> MessageModel | None:
    try:
        key = MessageKeyModel.get(_dedup_key(sender_id, client_msg_id), consistent_read=True)
    except DoesNotExist:
        return None
    if key.session_id != session_id:
        raise Conflict("client_msg_id was already used in another session")
    try:
        return MessageModel.get(key.session_id, key.message_id, consistent_read=True)
    except DoesNotExist:
        return None


def _same_message(existing: MessageModel, text: str) -> MessageModel:
    """A retry returns the stored message; the same ``client_msg_id`` with another text is a
    client bug that must not pass silently."""
    if existing.text != text:
        raise Conflict("client_msg_id was already used for a different text")
    return existing


def send_message(principal: Principal, session_id: str, client_msg_id: str, text: str,
                 exclude_connection: str | None = None, _attempt: int = 0) -> tuple[MessageModel, bool]:
    """Store a message once per (sender, client_msg_id) and fan it out; returns (message, is_new).

    The message, its idempotency key and the session counters are one transaction, so a retry
    (even a concurrent one) finds the first message instead of storing a second.
    """
    if not text or len(text) > 4000:
        raise ValidationFailed("text must be 1 to 4000 characters")
    session = session_for(principal, session_id)
    existing = _existing_message(principal.user_id, client_msg_id, session_id)
    if existing is not None:
        return _same_message(existing, text), False
    if not session.is_open:
        raise Conflict("session has ended")
    party = _party(principal, session)
    now = clock.iso()
    retention = get_config().message_retention_days * 86400
    message = MessageModel(
        session_id,
        clock.sortable_id(),
        sender_type=party,
        sender_id=principal.user_id,
        sender_name=principal.name,
        text=text,
        client_msg_id=client_msg_id,
        created_at=now,
        expires_at=int(clock.epoch() + retention),
    )
    key = MessageKeyModel(_dedup_key(principal.user_id, client_msg_id), session_id=session_id,
                          message_id=message.message_id, expires_at=message.expires_at)
    session_actions = [SessionModel.message_count.add(1), SessionModel.last_message_at.set(now)]
    if party == "agent":
        session_actions.append(SessionModel.first_response_at.set(SessionModel.first_response_at | now))
    tx = Transaction()
    tx.put("key", key, condition=MessageKeyModel.dedup_key.does_not_exist())
    tx.put("message", message, condition=MessageModel.message_id.does_not_exist())
    tx.update("session", SessionModel(session_id), actions=session_actions,
              condition=SessionModel.status.is_in(*OPEN_STATUSES))
    failed = tx.commit()
    if failed.get("key") == CONDITION_FAILED:
        existing = _existing_message(principal.user_id, client_msg_id, session_id)
        if existing is not None:
            return _same_message(existing, text), False
    if failed.get("session") == CONDITION_FAILED:
        raise Conflict("session has ended")
    if failed and _attempt < 3:
        # A concurrent writer on the same items (TransactionConflict) or the key's first writer
        # still in flight: try again; the idempotency key makes this safe.
        return send_message(principal, session_id, client_msg_id, text, exclude_connection, _attempt + 1)
    if failed:
        raise Conflict("the message could not be stored right now; send it again")
    count("MessagesStored")
    if session.status == "active":
        assignment.touch_assignment(session.visitor_id, session_id)
    notify.to_participants(session, {"type": "message.new", "message": message.to_public()},
                           exclude_connection=exclude_connection)
    return message, True


def history(principal: Principal, session_id: str, before: str | None = None,
            limit: int = 50) -> dict[str, Any]:
    """A page of messages, newest first; ``next`` is the ``before`` of the following page."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}")
    session_for(principal, session_id)
    condition = MessageModel.message_id < before if before else None
    query = MessageModel.query(session_id, condition, scan_index_forward=False, limit=limit + 1,
                               consistent_read=True)
    messages = list(query)
    more = len(messages) > limit
    messages = messages[:limit]
    return {
        "session_id": session_id,
        "messages": [m.to_public() for m in messages],
        "next": messages[-1].message_id if more and messages else None,
    }


def mark_read(principal: Principal, session_id: str, up_to: str) -> dict[str, Any]:
    """Mark the other party's messages up to ``up_to`` read, and tell them."""
    session = session_for(principal, session_id)
    try:
        MessageModel.get(session_id, up_to, consistent_read=True)
    except DoesNotExist as e:
        raise NotFound(f"no message {up_to} in this session") from e
    party = _party(principal, session)
    watermark_attr = SessionModel.visitor_read_up_to if party == "visitor" else SessionModel.agent_read_up_to
    previous = getattr(session, watermark_attr.attr_name)
    if previous and previous >= up_to:
        return {"session_id": session_id, "up_to": previous, "updated": 0}
    read_at = clock.iso()
    condition = MessageModel.message_id <= up_to
    if previous:
        condition = MessageModel.message_id.between(previous, up_to)
    updated = 0
    for message in MessageModel.query(session_id, condition, consistent_read=True,
                                      filter_condition=(MessageModel.sender_type != party)
                                      & MessageModel.read_at.does_not_exist()):
        try:
            message.update(actions=[MessageModel.read_at.set(read_at)],
                           condition=MessageModel.read_at.does_not_exist())
            updated += 1
        except UpdateError as e:
            if not is_condition_failure(e):
                raise
    try:
        session.update(actions=[watermark_attr.set(up_to)],
                       condition=watermark_attr.does_not_exist() | (watermark_attr < up_to))
    except UpdateError as e:
        if not is_condition_failure(e):
            raise
    reader = {"type": party, "id": principal.user_id, "name": principal.name}
    frame = {"type": "message.read", "session_id": session_id, "up_to": up_to, "reader": reader,
             "read_at": read_at}
    notify.to_participants(session, frame)
    return {"session_id": session_id, "up_to": up_to, "updated": updated}


def typing(principal: Principal, session_id: str, is_typing: bool) -> None:
    session = session_for(principal, session_id)
    if not session.is_open:
        raise Conflict("session has ended")
    party = _party(principal, session)
    other = session.agent_id if party == "visitor" else session.visitor_id
    notify.to_users([other], {"type": "typing", "session_id": session_id, "is_typing": is_typing,
                              "user": {"type": party, "id": principal.user_id, "name": principal.name}})


def visitor_left(visitor_id: str) -> None:
    """The visitor's last socket closed: remember when, so a waiting customer who does not come
    back within the grace period leaves the queue."""
    session = open_session_of(visitor_id)
    if session is None or session.status != "queued":
        return
    try:
        session.update(actions=[SessionModel.visitor_left_at.set(clock.epoch())],
                       condition=SessionModel.status == "queued")
    except UpdateError as e:
        if not is_condition_failure(e):
            raise


def visitor_returned(visitor_id: str) -> None:
    session = open_session_of(visitor_id)
    if session is None or session.visitor_left_at is None:
        return
    session.update(actions=[SessionModel.visitor_left_at.remove()])
