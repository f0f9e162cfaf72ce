"""What each client action does: thin calls into the services, and the reply frame."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from chalicelib import clock
from chalicelib.errors import Forbidden
from chalicelib.models import VisitorModel
from chalicelib.services import (
    assignment,
    chat,
    connections,
    conversations,
    identity,
    notify,
    operations,
    ratelimit,
    receipts,
    senders,
    session_lists,
    visitors,
)
from chalicelib.services.attachments import public_message
from chalicelib.services.tokens import Principal
from chalicelib.ws import frames


def on_connected(principal: Principal, connection_id: str) -> None:
    """A socket is opening: an agent is alive again (the queue is served to their other sockets);
    a visitor is back (stays in the queue)."""
    if principal.is_agent:
        assignment.agent_heartbeat(principal.user_id)
    else:
        chat.visitor_returned(principal.user_id)


def on_registered(principal: Principal, connection_id: str, cap: int | None = None) -> bool:
    """The socket's record is written: it joins its owner's set of open sockets (read
    consistently by pushes and by ``$disconnect``), in one write conditioned on the owner holding
    fewer than ``cap``; False when they already do (sockets certainly closed are pruned first).
    Nothing is pushed from here: the socket cannot be posted to until ``$connect`` returns."""
    if principal.is_agent:
        return assignment.agent_connected(principal.user_id, connection_id, cap)
    joined = connections.add_visitor_socket(principal.user_id, connection_id, cap)
    if not joined and cap is not None:
        connections.prune_closed(principal.user_id, "visitor")
        joined = connections.add_visitor_socket(principal.user_id, connection_id, cap)
    if joined:
        chat.visitor_socket_opened(principal.user_id, connection_id)
    return joined


def on_disconnected(principal: Principal, connection_id: str) -> None:
    """A socket closed; when it was the user's last open one, presence changes."""
    operations.socket_closed(principal, connection_id)


def on_frame(principal: Principal, connection_id: str, starts_conversation: bool = False) -> senders.Sender | None:
    """Any frame counts against its sender's rate limit, is a heartbeat (for agents, for their
    availability), and puts the socket back on its owner's set of open sockets (whatever judged it
    closed while it was silent, it is open, and pushes must reach it): one write on the sender's
    own item, which answers with it (``senders``). A visitor's ``start_session`` frame may spend
    their budget of new conversations in it too (``starts_conversation``). None when the sender no
    longer exists."""
    if principal.is_agent:
        return assignment.agent_frame(principal.user_id, connection_id)
    return senders.count_frame("visitor", principal.user_id, also=[VisitorModel.socket_ids.add({connection_id})],
                               conversation=ratelimit.conversation_budget() if starts_conversation else None)


def _sessions_frame(principal: Principal) -> dict[str, Any]:
    return {"type": "sessions", "sessions": [s.to_public(for_agent=principal.is_agent)
                                             for s in session_lists.own_sessions(principal)]}


def dispatch(principal: Principal, connection_id: str, frame: frames.Frame,
             sender: senders.Sender | None = None,
             spend_budgets: Callable[[], None] | None = None) -> dict[str, Any] | None:
    """Run one validated frame; returns the reply for the sender (None when there is none).
    ``sender``: the sender's item as the frame's write left it (``on_frame``). ``spend_budgets``:
    a ``start_session``'s budgets of new conversations, when the handler left them to the start."""
    match frame:
        case frames.Ping():
            return {"type": "pong", "connection_id": connection_id, "server_time": clock.iso()}
        case frames.StartSession():
            state = conversations.start_conversation(principal, frame.topic,
                                                     visitor=sender.item if sender is not None else None,
                                                     spend_budgets=spend_budgets)
            return None if state.announced else state.frame()
        case frames.SendMessage():
            return _send(principal, connection_id, frame, sender)
        case frames.Typing():
            chat.typing(principal, frame.session_id, frame.is_typing)
            return None
        case frames.MarkRead():
            result = receipts.mark_read(principal, frame.session_id, frame.up_to)
            return {"type": "read.ack", **result}
        case frames.GetHistory():
            return {"type": "history", **chat.history(principal, frame.session_id, frame.before,
                                                     frame.limit)}
        case frames.EndSession():
            chat.end_session(principal, frame.session_id)  # session.ended reaches every socket of both
            return None
        case frames.RateSession():
            return notify.rated_frame(chat.rate_session(principal, frame.session_id, frame.rating,
                                                        frame.comment))
        case frames.GetSession():
            return chat.state_for(principal, frame.session_id).frame()
        case frames.ListSessions():
            return _sessions_frame(principal)
        case frames.UpdateVisitor():
            _require_visitor(principal)
            visitor = visitors.update_profile(principal.user_id, frame.name, frame.email)
            return {"type": "visitor", "visitor": visitor.to_profile()}
        case frames.Identify():
            _require_visitor(principal)
            identified = identity.identify(principal.user_id, identity.Identity(
                frame.user_id, frame.user_hash, frame.name, frame.email, frame.attributes))
            return {"type": "identity", **identified.to_dict()}
        case frames.EmailTranscript():
            return {"type": "transcript.sent", **conversations.email_transcript(principal, frame.session_id,
                                                                                 frame.email)}
    raise Forbidden("action not allowed")


def _require_visitor(principal: Principal) -> None:
    if principal.typ != "visitor":
        raise Forbidden("this action is for visitors")


def _send(principal: Principal, connection_id: str, frame: frames.SendMessage,
          sender: senders.Sender | None) -> dict[str, Any]:
    """A message; one without ``session_id`` may open the conversation, which records the page
    context the frame carries and the User-Agent the socket connected with. ``sender``: the
    sender's item as the frame's write left it (their sockets, an agent's avatar: no read)."""
    source_ip = user_agent = None
    if frame.session_id is None:
        connection = connections.get(connection_id)
        source_ip = connection.source_ip if connection is not None else None
        user_agent = connection.user_agent if connection is not None else None
    message, _ = conversations.send(
        principal, frame.session_id, frame.client_msg_id, frame.text, attachment_id=frame.attachment_id,
        context=msgspec.structs.asdict(frame.context) if frame.context else None, source_ip=source_ip,
        user_agent=user_agent, exclude_connection=connection_id, internal=frame.internal, sender=sender)
    return {"type": "message.ack", "client_msg_id": frame.client_msg_id, "message": public_message(message)}
