"""Read receipts: a party marks the other party's messages read up to one message, in bounded
batches, and the other party is told (``message.read``)."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib import clock
from chalicelib.errors import NotFound
from chalicelib.models import MessageModel, SessionModel
from chalicelib.models.base import conditional
from chalicelib.services import chat, notify
from chalicelib.services.tokens import Principal

MARK_READ_BATCH = 200  # messages marked read by one call, at most


def mark_read(principal: Principal, session_id: str, up_to: str) -> dict[str, Any]:
    """Mark the other party's messages up to ``up_to`` read, and tell them."""
    session = chat.session_for(principal, session_id)
    try:
        MessageModel.get(session_id, up_to, consistent_read=True)
    except DoesNotExist as e:
        raise NotFound(f"no message {up_to} in this session") from e
    party = chat.party_of(principal, session)
    watermark_attr = SessionModel.visitor_read_up_to if party == "visitor" else SessionModel.agent_read_up_to
    previous = getattr(session, watermark_attr.attr_name)
    if previous and previous >= up_to:
        return {"session_id": session_id, "up_to": previous, "updated": 0, "complete": True}
    read_at = clock.iso()
    condition = MessageModel.message_id <= up_to
    if previous:
        condition = MessageModel.message_id.between(previous, up_to)
    updated = 0
    applied = up_to
    unread = MessageModel.query(session_id, condition, consistent_read=True, page_size=MARK_READ_BATCH,
                                filter_condition=(MessageModel.sender_type == chat.other_party(party))
                                & MessageModel.read_at.does_not_exist() & MessageModel.internal.does_not_exist())
    for message in unread:
        if updated >= MARK_READ_BATCH:
            break  # bounded work: the watermark stops at the last one marked; the client asks again
        conditional(lambda m=message: m.update(actions=[MessageModel.read_at.set(read_at)],
                                               condition=MessageModel.read_at.does_not_exist()))
        updated += 1
        applied = message.message_id
    if updated < MARK_READ_BATCH:
        applied = up_to
    conditional(lambda: session.update(actions=[watermark_attr.set(applied)],
                                       condition=watermark_attr.does_not_exist() | (watermark_attr < applied)))
    reader = {"type": party, "id": principal.user_id, "name": principal.name}
    frame = {"type": "message.read", "session_id": session_id, "up_to": applied, "reader": reader,
             "read_at": read_at}
    chat.after_store(notify.to_participants, session, frame)
    return {"session_id": session_id, "up_to": applied, "updated": updated, "complete": applied == up_to}
