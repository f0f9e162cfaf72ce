"""Message management: soft deletion by the session's agent or an admin."""

from __future__ import annotations

from typing import Any

from chalicelib import clock
from chalicelib.errors import Forbidden
from chalicelib.models import MessageModel
from chalicelib.models.batch import get_all, put_all
from chalicelib.observability import logger
from chalicelib.services import chat, notify
from chalicelib.services.tokens import Principal


def bulk_delete(principal: Principal, session_id: str, message_ids: list[str]) -> dict[str, Any]:
    """Soft-delete messages of one session: the text is removed, the message stays with
    ``deleted``, who and when. Read with ``BatchGetItem`` (100 keys a call), written with
    ``BatchWriteItem`` (25 a call, unprocessed items retried). Deleting again is harmless: an
    already deleted message counts as deleted. The participants' sockets get ``message.deleted``."""
    if not principal.is_agent:
        raise Forbidden("only the session's agent or an admin deletes messages")
    session = chat.session_for(principal, session_id)
    wanted = list(dict.fromkeys(message_ids))
    now = clock.epoch()
    found = {m.message_id: m for m in get_all(MessageModel, [(session_id, mid) for mid in wanted])
             if m.expires_at > now}
    deleted_at = clock.iso()
    fresh = [m for m in found.values() if not m.deleted]
    for message in fresh:
        message.text = None
        message.deleted = True
        message.deleted_by = principal.user_id
        message.deleted_at = deleted_at
    put_all(MessageModel, fresh)
    deleted = [mid for mid in wanted if mid in found]
    if fresh:
        fresh_ids = {m.message_id for m in fresh}
        notify.to_participants(session, {"type": "message.deleted", "session_id": session_id,
                                         "message_ids": [mid for mid in wanted if mid in fresh_ids]})
        logger.info("messages deleted", session_id=session_id, count=len(fresh), by=principal.user_id)
    return {"session_id": session_id, "deleted": deleted,
            "not_found": [mid for mid in wanted if mid not in found]}
