"""Conversations as the widget has them (docs/protocol.md, "The widget's backend").

- Started by their first message: a visitor's message without a session goes to their open
  conversation, and opens one when there is none, placed with an agent, in the queue, or, when
  nobody can answer (``answering``), waiting for an agent (``offline``). The idempotency key of
  the message is looked up first, so a retry (over REST or the socket) never opens a second one.
- A greeting from the settings is stored as the conversation's first message.
- An agent replying to a conversation that waits for an agent takes it first (``accept``).
- A visitor writing again to an offline conversation while an agent has a free slot joins the
  queue, which gives it to that agent.
- A reply to a customer who has left (no open socket) and gave an email is mailed; a transcript
  by email on request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.errors import (
    EmailRequired,
    Forbidden,
    NotFound,
    PrechatRequired,
    RateLimited,
    Unavailable,
    ValidationFailed,
)
from chalicelib.models import MessageKeyModel, MessageModel, SessionModel, VisitorModel
from chalicelib.models.base import CONDITION_FAILED, Transaction, conditional, stored_as
from chalicelib.observability import logger
from chalicelib.services import (
    agents,
    answering,
    assignment,
    attachments,
    chat,
    connections,
    mail,
    notify,
    ratelimit,
    visitors,
    widget_settings,
)
from chalicelib.services.tokens import Principal

CONTEXT_FIELDS = ("url", "title", "referrer", "language", "timezone")
USER_AGENT_MAX = 512
TRANSCRIPT_EVERY_SECONDS = 60
TRANSCRIPT_MAX_MESSAGES = 1000
GREETING = "greeting"


def send(principal: Principal, session_id: str | None, client_msg_id: str, text: str, *,
         attachment_id: str | None = None, context: dict[str, Any] | None = None, topic: str | None = None,
         source_ip: str | None = None, user_agent: str | None = None,
         exclude_connection: str | None = None, internal: bool = False,
         sender: Any = None) -> tuple[MessageModel, bool]:
    """Store a message once per (sender, ``client_msg_id``) and fan it out; returns (message,
    is_new). Without ``session_id`` (visitors) it goes to the open conversation, opened by it.
    ``internal``: an agents-only note (not a reply: it neither takes the conversation nor mails).
    ``sender``: the sender's item as their frame's write left it (``senders.Sender``)."""
    if session_id is None:
        session_id = _conversation_for(principal, client_msg_id, context, topic, source_ip, user_agent)
    session = chat.session_to_write(principal, session_id, read_only=True)  # an unassigned one read now
    if principal.is_agent and not internal and session.agent_id is None \
            and session.status in chat.UNASSIGNED_STATUSES:
        session = assignment.accept_session(session_id, principal.user_id).session  # replying takes it
    attachment = attachments.confirm(principal, attachment_id) if attachment_id else None
    message, is_new = chat.send_message(principal, session_id, client_msg_id, text, exclude_connection, attachment,
                                        read=session, avatar_url=_avatar_of(principal, sender), internal=internal,
                                        sender=sender)
    if is_new and not internal:
        _after_message(principal, session, message)
    return message, is_new


def _avatar_of(principal: Principal, sender: Any = None) -> str | None:
    """An agent's avatar as it is now (the token carries only their name): on their item as their
    frame's write answered with it, else one read per agent message; none per visitor message."""
    if not principal.is_agent:
        return None
    if sender is not None and sender.user_id == principal.user_id:
        return sender.item.avatar_url
    return agents.get_agent(principal.user_id).avatar_url


def _conversation_for(principal: Principal, client_msg_id: str, context: dict[str, Any] | None,
                      topic: str | None, source_ip: str | None, user_agent: str | None) -> str:
    if principal.typ != "visitor":
        raise ValidationFailed("session_id is required")
    stored_in = chat.session_of_sent(principal.user_id, client_msg_id)
    if stored_in is not None:
        return stored_in  # a retry: the message is there already
    current = assignment.open_session_of(principal.user_id)
    if current is not None:
        return current.session_id
    return open_conversation(principal.user_id, context, topic, source_ip, user_agent).session_id


def open_conversation(visitor_id: str, context: dict[str, Any] | None = None, topic: str | None = None,
                      source_ip: str | None = None, user_agent: str | None = None) -> SessionModel:
    """The visitor's open conversation, or a new one placed as whoever can answer now allows,
    opened with the greeting."""
    visitor = visitors.get_visitor(visitor_id)
    settings = widget_settings.current().document
    _check_prechat(settings.get("prechat") or {}, visitor)
    ratelimit.new_conversation(visitor_id, source_ip)
    details = {**visitors.session_details(visitor), "context": page_context(context, user_agent)}
    can_answer = answering.who_can_answer().can_answer
    outcome, is_new = assignment.open_session(visitor_id, visitor.name, topic, offline=not can_answer,
                                              details=details)
    if is_new and settings.get("greeting"):
        _after(greet, outcome.session, settings["greeting"])
    return outcome.session


def form_may_refuse() -> bool:
    """Whether the settings (as this container read them lately) require a pre-chat field: a
    ``start_session`` may then be refused, so its budgets are spent only once it is admitted."""
    prechat = widget_settings.recent().document.get("prechat") or {}
    return "required" in prechat.values()


def start_conversation(principal: Principal, topic: str | None = None, visitor: VisitorModel | None = None,
                       spend_budgets: Callable[[], None] | None = None) -> chat.SessionState:
    """A visitor's ``start_session`` frame (older clients; the widget starts with its first
    message): their open conversation, or a new one placed with an agent or in the queue, as a
    conversation opened by a first message is: the pre-chat form's required fields first, the
    visitor's identity copied onto it, the greeting first in it. Unlike a first message it waits
    in the queue when nobody is online (the protocol's ``start_session`` contract). The budgets of
    new conversations: spent by the frame's handler already, or (``spend_budgets``, when the form
    may refuse) once the form admits the new conversation, so a refused start spends nothing.
    Cheap, as a frame must be: the settings as this container read them lately
    (``widget_settings.recent``) and the visitor as the frame's write left them (``visitor``)."""
    if principal.typ != "visitor":
        raise Forbidden("only visitors start sessions")
    sockets = set(visitor.socket_ids or ()) if visitor is not None else None  # else read when needed
    visitor = visitor or visitors.get_visitor(principal.user_id)
    settings = widget_settings.recent().document
    outcome, is_new = assignment.open_session(
        principal.user_id, visitor.name, topic, sockets, details=visitors.session_details(visitor),
        admit=lambda: _admit(settings.get("prechat") or {}, visitor, spend_budgets))
    if not is_new:
        return chat.state_of(outcome.session)
    if settings.get("greeting"):
        _after(greet, outcome.session, settings["greeting"])
    return chat.SessionState(outcome.session, outcome.position, announced=True)


def _admit(prechat: dict[str, str], visitor: VisitorModel, spend_budgets: Callable[[], None] | None) -> None:
    _check_prechat(prechat, visitor)
    if spend_budgets is not None:
        spend_budgets()


def _check_prechat(prechat: dict[str, str], visitor: VisitorModel) -> None:
    missing = [name for name in ("name", "email") if prechat.get(name) == "required" and not getattr(visitor, name)]
    if missing:
        raise PrechatRequired(f"give your {' and '.join(missing)} first", fields=missing)


def page_context(context: dict[str, Any] | None, user_agent: str | None) -> dict[str, str] | None:
    """The page the conversation started on, as the widget told it, and the browser's User-Agent."""
    kept = {name: str(value) for name, value in (context or {}).items() if name in CONTEXT_FIELDS and value}
    if user_agent:
        kept["user_agent"] = user_agent[:USER_AGENT_MAX]
    return kept or None


def greet(session: SessionModel, text: str) -> None:
    """Store the settings' greeting as the conversation's first message (once: its key is the
    session's) and show it to whoever is in the conversation already."""
    # Stamped as the conversation opened: it reads first, before the lines written as it opened
    # (the agent who joined) and the customer's first message.
    message = MessageModel(session.session_id, clock.sortable_id_before(session.created_at), sender_type="system",
                           sender_id=GREETING, text=text, kind=GREETING, created_at=session.created_at,
                           expires_at=int(clock.epoch() + get_config().message_retention_days * 86400))
    key = MessageKeyModel(f"{GREETING}#{session.session_id}", session_id=session.session_id,
                          message_id=message.message_id, expires_at=message.expires_at)
    tx = Transaction()
    tx.put("key", key, condition=MessageKeyModel.dedup_key.does_not_exist())
    tx.put("message", message, condition=MessageModel.message_id.does_not_exist())
    failed = tx.commit()
    if failed.get("key") == CONDITION_FAILED:
        return
    if not failed:
        notify.to_participants(chat.get_session(session.session_id),
                               {"type": "message.new", "message": message.to_public()})


def _after_message(principal: Principal, session: SessionModel, message: MessageModel) -> None:
    if principal.typ == "visitor" and session.status == "offline":
        _after(_queue_if_answerable, session)
    elif principal.is_agent and session.visitor_email:
        _after(_mail_if_away, session, message)


def _queue_if_answerable(session: SessionModel) -> None:
    """Only when an agent has a free slot: the conversation goes straight to them. With everyone
    busy it keeps waiting offline, where leaving cannot end it, and any agent can take it."""
    if answering.who_can_answer().reason is answering.Reason.AVAILABLE:
        assignment.queue_offline(chat.get_session(session.session_id))


def _mail_if_away(session: SessionModel, message: MessageModel) -> None:
    """An agent's reply reaches a customer with no open socket by email."""
    if connections.is_present(session.visitor_id, "visitor"):
        return
    visitor = visitors.get_visitor(session.visitor_id)
    if not visitor.email:
        return
    subject, text = mail.reply_notice(session, message)
    mail.send(visitor.email, subject, text)


def _after(action: Any, *args: Any) -> None:
    """Work after the message is stored must not turn it into an error."""
    try:
        action(*args)
    except Exception:  # the message is stored: the sender's answer must say so
        logger.exception("after-message step failed", step=getattr(action, "__name__", "step"))


def email_transcript(principal: Principal, session_id: str, email: str | None = None) -> dict[str, Any]:
    """Mail the conversation to the visitor (to ``email``, then kept as theirs, or to the one they
    gave); once a minute per conversation."""
    if principal.typ != "visitor":
        raise Forbidden("only the customer asks for their transcript")
    session = chat.session_for(principal, session_id)
    if email:
        visitors.update_profile(principal.user_id, email=email)
    to = email or visitors.get_visitor(principal.user_id).email
    if not to:
        raise EmailRequired("give an email to send the transcript to")
    now = clock.epoch()
    attr = SessionModel.transcript_sent_at
    if not conditional(lambda: SessionModel(session_id).update(
            actions=[attr.set(now)], condition=attr.does_not_exist() | (attr < now - TRANSCRIPT_EVERY_SECONDS)),
            already_done=lambda: stored_as(SessionModel, session_id, {"transcript_sent_at": now}) is not None):
        raise RateLimited("a transcript was sent a moment ago", retry_after=TRANSCRIPT_EVERY_SECONDS)
    messages = list(MessageModel.query(session_id, consistent_read=True, limit=TRANSCRIPT_MAX_MESSAGES))
    subject, text = mail.transcript(session, messages)
    if not mail.send(to, subject, text):
        raise Unavailable("the transcript could not be sent right now")
    return {"session_id": session_id, "sent_to": to, "messages": len(messages)}


def attachment_for(principal: Principal, attachment_id: str) -> dict[str, Any]:
    """A stored file with a fresh download URL, for the participants of its conversation."""
    attachment = attachments.get(attachment_id)
    if attachment.status != "confirmed" or attachment.session_id is None:
        if attachment.uploader_id != principal.user_id:
            raise NotFound(f"no attachment {attachment_id}")
        raise NotFound("this attachment is not in a message yet")
    chat.session_for(principal, attachment.session_id, read_only=True)
    return attachments.describe(attachment)


def start_upload(principal: Principal, filename: str, content_type: str, size: int,
                 session_id: str | None) -> dict[str, Any]:
    if session_id is not None:
        chat.session_for(principal, session_id, read_only=True)
    return attachments.start_upload(principal, filename, content_type, size, session_id)
