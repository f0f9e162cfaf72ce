"""Message management: soft deletion by the session's agent or an admin."""

from __future__ import annotations

from typing import Any

from chalicelib import clock
from chalicelib.errors import Forbidden, Unavailable
from chalicelib.models import MessageModel, SessionModel
from chalicelib.models.base import CONDITION_FAILED, Transaction, get_or_none, rounds
from chalicelib.models.batch import get_all
from chalicelib.observability import logger
from chalicelib.services import chat, notify
from chalicelib.services.tokens import Principal

TRANSACTION_LIMIT = 100  # actions in one TransactWriteItems
DELETE_ROUNDS = 4


def bulk_delete(principal: Principal, session_id: str, message_ids: list[str]) -> dict[str, Any]:
    """Soft-delete messages of one session: the text is removed, the message stays with
    ``deleted``, who and when. Read with ``BatchGetItem`` (100 keys a call); written as updates
    (never whole items, so a read receipt set meanwhile stays) in transactions of up to 100, each
    conditioned on the message not being deleted yet and, for an agent, on the session still
    being theirs. Deleting again is harmless: an already deleted message counts as deleted, and
    who deleted it first is kept. The participants' sockets get ``message.deleted``."""
    if not principal.is_agent:
        raise Forbidden("only the session's agent or an admin deletes messages")
    session = chat.session_for(principal, session_id)
    wanted = list(dict.fromkeys(message_ids))
    now = clock.epoch()
    found = {m.message_id: m for m in get_all(MessageModel, [(session_id, mid) for mid in wanted])
             if m.expires_at > now}
    to_delete = [mid for mid in wanted if mid in found and not found[mid].deleted]
    applied: set[str] = set()
    chunk_size = TRANSACTION_LIMIT - (0 if principal.is_admin else 1)  # room for the session check
    for start in range(0, len(to_delete), chunk_size):
        applied |= _delete_chunk(principal, session_id, to_delete[start:start + chunk_size])
    if applied:
        current = get_or_none(SessionModel, session_id)  # who has the session now, after the writes
        told = [session.visitor_id, session.agent_id, current.agent_id if current else None]
        notify.to_users(list(dict.fromkeys(told)), {"type": "message.deleted", "session_id": session_id,
                                                    "message_ids": [mid for mid in wanted if mid in applied]})
        logger.info("messages deleted", session_id=session_id, count=len(applied), by=principal.user_id)
    return {"session_id": session_id, "deleted": [mid for mid in wanted if mid in found],
            "not_found": [mid for mid in wanted if mid not in found]}


def _delete_chunk(principal: Principal, session_id: str, message_ids: list[str]) -> set[str]:
    """Delete these messages in one transaction; the ones someone else deleted meanwhile are left
    out of the next round. Returns the ids this call deleted."""
    deleted_at = clock.iso()
    pending = list(message_ids)
    for _ in rounds(DELETE_ROUNDS):
        if not pending:
            return set()
        tx = Transaction()
        if not principal.is_admin:
            tx.check("session", SessionModel, session_id, condition=SessionModel.agent_id == principal.user_id)
        for message_id in pending:
            tx.update(message_id, MessageModel(session_id, message_id),
                      actions=[MessageModel.text.remove(), MessageModel.deleted.set(True),
                               MessageModel.deleted_by.set(principal.user_id),
                               MessageModel.deleted_at.set(deleted_at)],
                      condition=MessageModel.message_id.exists() & MessageModel.deleted.does_not_exist())
        failed = tx.commit()
        if not failed:
            return set(pending)
        if failed.get("session") == CONDITION_FAILED:
            raise Forbidden("you are not a participant of this session")
        pending = [mid for mid in pending if failed.get(mid) != CONDITION_FAILED]
    raise Unavailable("the messages could not be deleted right now; try again")
