"""Conversations: sessions, messages, history, typing, ratings (read receipts: ``receipts``).

Permissions live here so REST and WebSocket enforce the same rules: a visitor sees only their
own sessions, an agent only the sessions assigned to them, an admin all.
"""

from __future__ import annotations

from typing import Any

import msgspec
from pynamodb.exceptions import DoesNotExist

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.errors import Conflict, Forbidden, ValidationFailed
from chalicelib.models import AttachmentModel, MessageKeyModel, MessageModel, SessionModel
from chalicelib.models.base import CONDITION_FAILED, Transaction, conditional, rounds
from chalicelib.models.session import OPEN_STATUSES, next_version
from chalicelib.observability import count, logger
from chalicelib.services import assignment, attachments, notify, transcript
from chalicelib.services.attachments import public_message
from chalicelib.services.container import Recent
from chalicelib.services.tokens import Principal

MAX_PAGE = 100


def get_session(session_id: str) -> SessionModel:
    return SessionModel.fetch(session_id)


UNASSIGNED_STATUSES = ("queued", "offline")


def can_access(principal: Principal, session: SessionModel, read_only: bool = False) -> bool:
    """``read_only``: any agent may also read a session waiting for an agent (the console's
    unassigned conversations); writing to it takes it first (``conversations``)."""
    if principal.is_admin:
        return True
    if principal.typ == "visitor":
        return session.visitor_id == principal.user_id
    if read_only and session.agent_id is None and session.status in UNASSIGNED_STATUSES:
        return True
    return session.agent_id == principal.user_id


def session_for(principal: Principal, session_id: str, read_only: bool = False) -> SessionModel:
    """The session if ``principal`` may see it; ``not_found`` / ``forbidden`` otherwise."""
    session = get_session(session_id)
    if not can_access(principal, session, read_only):
        raise Forbidden("you are not a participant of this session")
    return session


def readable_session(principal: Principal, session_id: str) -> SessionModel:
    """The session if ``principal`` may read it: a participant, an admin, or the agent now serving
    its customer (who opens the customer's earlier conversations from the customer panel)."""
    session = get_session(session_id)
    if can_access(principal, session, read_only=True):
        return session
    if principal.is_agent:
        current = assignment.get_assignment(session.visitor_id)
        if current is not None and current.agent_id == principal.user_id:
            return session
    raise Forbidden("you are not a participant of this session")


def party_of(principal: Principal, session: SessionModel) -> str:
    """Which side ``principal`` speaks for in ``session``: visitor or agent (admins as agent)."""
    return "visitor" if principal.typ == "visitor" else "agent"


def other_party(party: str) -> str:
    """The party whose messages ``party`` reads (system lines and notes are nobody's to read)."""
    return "agent" if party == "visitor" else "visitor"


# --- sessions ---------------------------------------------------------------------------------


class SessionState(msgspec.Struct):
    """A session as read now, with its position when it waits (``position_seq``: see
    ``notify.queued_frame``)."""

    session: SessionModel
    position: int | None = None
    announced: bool = False  # the participants were already sent this state
    position_seq: int = 0

    def frame(self) -> dict[str, Any]:
        s = self.session
        if s.status == "active":
            return notify.assigned_frame(s, s.agent_id, s.agent_name)
        if s.status == "queued":
            return notify.queued_frame(s, self.position, self.position_seq)
        if s.status == "offline":
            return notify.offline_frame(s)
        return notify.ended_frame(s, s.ended_by, s.end_reason)


def open_session_of(visitor_id: str) -> SessionModel | None:
    """The visitor's open session, through the claim that makes it unique."""
    return assignment.open_session_of(visitor_id)


def start_session(principal: Principal, topic: str | None = None,
                  visitor_sockets: set[str] | None = None) -> SessionState:
    """Open a conversation for a visitor, or return the one already open (one at a time): the
    assignment alone (a visitor's ``start_session`` frame goes through
    ``conversations.start_conversation``, which asks what the settings require first).
    ``visitor_sockets``: their open sockets as their frame's write just left them (read otherwise)."""
    if principal.typ != "visitor":
        raise Forbidden("only visitors start sessions")
    return start_session_for(principal.user_id, principal.name, topic, visitor_sockets)


def start_session_for(visitor_id: str, visitor_name: str | None, topic: str | None = None,
                      visitor_sockets: set[str] | None = None) -> SessionState:
    outcome, is_new = assignment.open_session(visitor_id, visitor_name, topic, visitor_sockets)
    if not is_new:
        return state_of(outcome.session)  # a position told again is ordered among the announcements
    return SessionState(outcome.session, outcome.position, announced=True)


def state_of(session: SessionModel) -> SessionState:
    """A session's state as its frame tells it (a waiting one's position asked now)."""
    if session.status != "queued":
        return SessionState(session)
    position_seq = assignment.next_announcement()  # drawn before the position is read: see ``positions``
    return SessionState(session, assignment.position_of(session), position_seq=position_seq)


def state_for(principal: Principal, session_id: str) -> SessionState:
    return state_of(readable_session(principal, session_id))


def end_session(principal: Principal, session_id: str) -> SessionModel:
    session = session_for(principal, session_id)
    if not session.is_open:
        raise Conflict("session already ended")
    return assignment.end_session(session, ended_by=principal.user_id,
                                  reason=f"ended_by_{party_of(principal, session)}",
                                  only_agent=None if principal.typ == "visitor" or principal.is_admin
                                  else principal.user_id)


def rate_session(principal: Principal, session_id: str, rating: int, comment: str | None) -> SessionModel:
    """The visitor's one rating, after the session ended. A conflict with a write in flight on
    the session (its ending's transaction) is retried; a retry that meets its own rating is a
    success; a rating the session cannot take is a ``Conflict``, never a server error."""
    if principal.typ != "visitor":
        raise Forbidden("only the customer rates a session")
    if not 1 <= rating <= 5:
        raise ValidationFailed("rating must be between 1 and 5")
    session = session_for(principal, session_id)
    if session.is_open:
        raise Conflict("a session can be rated once it has ended")
    actions = [SessionModel.rating.set(rating), next_version()]
    if comment:
        actions.append(SessionModel.rating_comment.set(comment))

    def rated_by_this_call() -> bool:
        stored = get_session(session_id)
        return stored.rating == rating and stored.rating_comment == (comment or None)

    # Ended is final: only a rating moves the version on, so the one read is the one rated.
    condition = (SessionModel.rating.does_not_exist() & SessionModel.status.is_in("ended", "abandoned")
                 & session.at_version())
    rated_version = session.state_version + 1
    if not conditional(lambda: session.update(actions=actions, condition=condition),
                       already_done=rated_by_this_call):
        if get_session(session_id).is_open:
            raise Conflict("a session can be rated once it has ended")
        raise Conflict("this session was already rated")
    session.rating, session.rating_comment = rating, comment or None
    session.version = rated_version
    after_store(transcript.rated, session)
    notify.to_users([session.agent_id], notify.rated_frame(session))
    return session


# --- messages -----------------------------------------------------------------------------------


def _dedup_key(sender_id: str, client_msg_id: str) -> str:
    return f"{sender_id}#{client_msg_id}"


def session_of_sent(sender_id: str, client_msg_id: str) -> str | None:
    """The session a message of ``sender_id`` with ``client_msg_id`` was stored in, if any."""
    try:
        return MessageKeyModel.get(_dedup_key(sender_id, client_msg_id), consistent_read=True).session_id
    except DoesNotExist:
        return None


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


SEND_ATTEMPTS = 4
# A retry this long after the first attempt stored the message fans it out again: the first
# attempt may have stopped before its fan-out. Sooner, the first attempt is still fanning out
# (a client's quick or concurrent retries must not deliver copies); clients keep one per id.
FANOUT_LEASE_SECONDS = 5.0
# A session as this container last read it, for the messages that follow: its participants and
# status, each checked by the message's transaction (same agent, still open), so a copy gone
# stale costs a failed condition and a read, never a message in the wrong place.
_sessions: Recent[str, SessionModel] = Recent(max_age=300.0)
# When this container last pushed a session's assignment expiry out (``KEFU_ASSIGNMENT_TTL``, 30
# minutes): at most once a minute per container, inside a message's transaction.
_touched: Recent[str, bool] = Recent(max_age=60.0)


def _same_message(existing: MessageModel, text: str) -> MessageModel:
    """A retry returns the stored message; the same ``client_msg_id`` with another text is a
    client bug that must not pass silently."""
    if (existing.text or "") != text:
        raise Conflict("client_msg_id was already used for a different text")
    return existing


def session_to_write(principal: Principal, session_id: str, fresh: bool = False,
                     read_only: bool = False) -> SessionModel:
    """``session_for`` through this container's copy (``_sessions``); read again when asked
    (``fresh``), when the copy does not let ``principal`` in (it may be older than a transfer), or
    when it has no agent: a message's transaction checks that the agent is the same and the session
    open, which holds an assigned session to what the copy says, but not a waiting one (queued and
    offline, which a visitor's message treats differently, both have no agent)."""
    session = None if fresh else _sessions.get(session_id)
    if session is None or session.agent_id is None or not can_access(principal, session, read_only):
        session = get_session(session_id)
        _sessions.put(session_id, session)
    if not can_access(principal, session, read_only):
        raise Forbidden("you are not a participant of this session")
    return session


def send_message(principal: Principal, session_id: str, client_msg_id: str, text: str,
                 exclude_connection: str | None = None, attachment: AttachmentModel | None = None,
                 read: SessionModel | None = None, avatar_url: str | None = None,
                 internal: bool = False, sender: Any = None) -> tuple[MessageModel, bool]:
    """Store a message once per (sender, client_msg_id) and fan it out; returns (message, is_new).

    One transaction: the message, its idempotency key (put on the condition that it is new: a
    retry, even a concurrent one, finds the first message instead of storing a second, without a
    read first), the attachment it carries, the session's counters (on the condition that it is
    still open with the agent this container knows) and, when due, the assignment's expiry. A
    late retry fans the stored message out again (``FANOUT_LEASE_SECONDS``). ``internal``: an
    agents-only note, pushed to agents' sockets only and never shown to the visitor; it is not a
    reply (no first response, no message count) and does not extend the assignment. ``read``:
    the session as the caller just read it (not read again). ``sender``: the sender's item as
    their frame's write left it (``senders.Sender``), so their own other sockets need no read.
    """
    if len(text) > 4000 or (not text and attachment is None):
        raise ValidationFailed("text must be 1 to 4000 characters (or empty with an attachment)")
    if internal and not principal.is_agent:
        raise Forbidden("only agents write internal notes")
    session = read if read is not None and read.session_id == session_id and can_access(principal, read) \
        else session_to_write(principal, session_id)
    for _ in rounds(SEND_ATTEMPTS):
        touch = session.status == "active" and not internal and _touched.get(session_id) is None
        failed: dict[str, str] = {}
        if session.is_open:
            message, failed = _store(principal, session, client_msg_id, text, touch, attachment, avatar_url,
                                     internal)
            if not failed:
                count("MessagesStored")
                if touch:
                    _touched.put(session_id, True)
                _fan_out(session, message, exclude_connection, sender)
                return message, True
        if not session.is_open or failed.get("key") == CONDITION_FAILED:
            existing = _existing_message(principal.user_id, client_msg_id, session_id)
            if existing is not None:  # stored by an earlier attempt: its ack again
                _same_message(existing, text)
                if clock.epoch() - clock.epoch_of(existing.created_at) > FANOUT_LEASE_SECONDS:
                    _fan_out(session, existing, exclude_connection, sender)
                return existing, False
            if not session.is_open:
                raise Conflict("session has ended")
        if failed.get("attachment") == CONDITION_FAILED:
            raise Conflict("this attachment was already sent in another message")
        if failed.get("session") == CONDITION_FAILED:
            session = session_to_write(principal, session_id, fresh=True)  # ended, or another agent
            if not session.is_open:
                raise Conflict("session has ended")
        elif failed.get("assignment") == CONDITION_FAILED:
            _touched.put(session_id, True)  # the assignment is not this session's: no touch
    raise Conflict("the message could not be stored right now; send it again")


def _store(principal: Principal, session: SessionModel, client_msg_id: str, text: str, touch: bool,
           attachment: AttachmentModel | None = None, avatar_url: str | None = None,
           internal: bool = False) -> tuple[MessageModel, dict[str, str]]:
    party = party_of(principal, session)
    now = clock.iso()
    retention = get_config().message_retention_days * 86400
    message = MessageModel(
        session.session_id,
        clock.sortable_id(),
        sender_type=party,
        sender_id=principal.user_id,
        sender_name=principal.name,
        sender_avatar_url=avatar_url,
        text=text,
        client_msg_id=client_msg_id,
        created_at=now,
        expires_at=int(clock.epoch() + retention),
        internal=True if internal else None,
    )
    key = MessageKeyModel(_dedup_key(principal.user_id, client_msg_id), session_id=session.session_id,
                          message_id=message.message_id, expires_at=message.expires_at)
    session_actions = [SessionModel.message_count.add(1), SessionModel.last_message_at.set(now)]
    if party == "agent":
        session_actions.append(SessionModel.first_response_at.set(SessionModel.first_response_at | now))
    tx = Transaction()
    tx.put("key", key, condition=MessageKeyModel.dedup_key.does_not_exist())
    if attachment is not None:
        message.attachment = attachment.to_ref()
        attachments.add_to_message(tx, attachment, message)
    tx.put("message", message, condition=MessageModel.message_id.does_not_exist())
    # The fan-out goes to the agent read before the write: the write holds only while that is
    # still the agent, so one assigned in between (who then loads the history) never misses it.
    same_agent = (SessionModel.agent_id == session.agent_id if session.agent_id
                  else SessionModel.agent_id.does_not_exist())
    condition = SessionModel.status.is_in(*OPEN_STATUSES) & same_agent
    if internal:
        tx.check("session", SessionModel, session.session_id, condition=condition)
    else:
        tx.update("session", SessionModel(session.session_id), actions=session_actions, condition=condition)
    if touch:
        assignment.add_touch(tx, session.visitor_id, session.session_id)
    return message, tx.commit()


def after_store(action, *args, **kwargs) -> None:
    """Work after the message is stored must not turn the stored message into an error."""
    try:
        action(*args, **kwargs)
    except Exception:  # the message is stored: the sender's answer must say so
        logger.exception("after-store step failed", step=getattr(action, "__name__", "step"))


def _fan_out(session: SessionModel, message: MessageModel, exclude_connection: str | None,
             sender: Any = None) -> None:
    known = {sender.user_id: sender.item} if sender is not None else None
    frame = {"type": "message.new", "message": public_message(message)}
    if message.is_note:  # agents only: the session's agent and the note's author (an admin's other tabs)
        after_store(notify.to_users, [session.agent_id, message.sender_id], frame, exclude_connection,
                     known=known)
    else:
        after_store(notify.to_participants, session, frame, exclude_connection, known=known)


def history(principal: Principal, session_id: str, before: str | None = None,
            limit: int = 50) -> dict[str, Any]:
    """A page of messages, newest first; ``next`` is the ``before`` of the following page."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}")
    readable_session(principal, session_id)
    for_visitor = principal.typ == "visitor"
    condition = MessageModel.message_id < before if before else None
    # A visitor never reads notes: filtered by DynamoDB, which pages on until the page is full.
    query = MessageModel.query(session_id, condition, scan_index_forward=False, limit=limit + 1,
                               consistent_read=True,
                               filter_condition=MessageModel.internal.does_not_exist() if for_visitor else None)
    messages = list(query)
    more = len(messages) > limit
    messages = messages[:limit]
    return {
        "session_id": session_id,
        "messages": [public_message(m, for_visitor=for_visitor) for m in messages],
        "next": messages[-1].message_id if more and messages else None,
    }


def typing(principal: Principal, session_id: str, is_typing: bool) -> None:
    session = session_for(principal, session_id)
    if not session.is_open:
        raise Conflict("session has ended")
    party = party_of(principal, session)
    other = session.agent_id if party == "visitor" else session.visitor_id
    notify.to_users([other], {"type": "typing", "session_id": session_id, "is_typing": is_typing,
                              "user": {"type": party, "id": principal.user_id, "name": principal.name}})


def visitor_socket_closed(visitor_id: str, connection_id: str, last: bool) -> None:
    """One of the visitor's sockets closed. When it was the last, remember when on their open
    session, so a waiting customer who does not come back within the grace period leaves the
    queue, and an active one ends after ``KEFU_VISITOR_AWAY_TIMEOUT``."""
    session = open_session_of(visitor_id)
    if session is None:
        return
    actions = [SessionModel.visitor_sockets.delete({connection_id})]
    if last:
        actions.append(SessionModel.visitor_left_at.set(clock.epoch()))
    conditional(lambda: session.update(actions=actions, condition=SessionModel.status.is_in(*OPEN_STATUSES)))


def visitor_returned(visitor_id: str) -> None:
    """A socket of the visitor is opening: back."""
    session = open_session_of(visitor_id)
    if session is None or session.visitor_left_at is None:
        return
    conditional(lambda: session.update(actions=[SessionModel.visitor_left_at.remove()],
                                       condition=SessionModel.status.is_in(*OPEN_STATUSES)))


def visitor_socket_opened(visitor_id: str, connection_id: str) -> None:
    """The visitor's new socket is recorded on their open session (position notices go to it)."""
    session = open_session_of(visitor_id)
    if session is None:
        return
    conditional(lambda: session.update(actions=[SessionModel.visitor_sockets.add({connection_id}),
                                                SessionModel.visitor_left_at.remove()],
                                       condition=SessionModel.status.is_in(*OPEN_STATUSES)))
