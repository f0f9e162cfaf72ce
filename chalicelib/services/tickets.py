"""One-time WebSocket tickets: browsers cannot set headers on a WebSocket, so whatever opens it
travels in the URL, and URLs end up in proxies' and servers' logs. A client holding a token asks
for a ticket (``POST /api/ws/ticket``) and opens the socket with ``?ticket=``: the ticket is good
for one ``$connect`` within 60 s, so a logged URL is worthless by the time anyone reads it.
"""

from __future__ import annotations

import hashlib
import math
import secrets

from chalicelib import clock
from chalicelib.errors import Unauthorized
from chalicelib.models import TicketModel
from chalicelib.models.base import conditional, retrying, stored_as
from chalicelib.services.tokens import Principal

TICKET_SECONDS = 60
MAX_TICKET_LENGTH = 128


def _hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


def issue(principal: Principal) -> dict:
    """A new ticket for ``principal``: ``{"ticket", "expires_at", "expires_in"}``."""
    ticket = secrets.token_urlsafe(32)
    expires_at = clock.epoch() + TICKET_SECONDS
    record = TicketModel(_hash(ticket), user_id=principal.user_id, user_type=principal.typ,
                         role=principal.role, user_name=principal.name, token_gen=principal.gen,
                         expires_at=math.ceil(expires_at))
    retrying(record.save)  # a fresh random key: saving it twice writes the same item
    return {"ticket": ticket, "expires_at": clock.iso_from_epoch(expires_at), "expires_in": TICKET_SECONDS}


def redeem(ticket: str, connection_id: str) -> Principal:
    """Consume ``ticket`` for ``connection_id`` and return who it speaks for; ``Unauthorized``
    for an unknown, expired or already used ticket. One conditional update decides, so of two
    connects racing with one ticket exactly one passes (a retry after a lost answer recognises
    its own ``used_by``)."""
    if not ticket or len(ticket) > MAX_TICKET_LENGTH:
        raise Unauthorized("invalid ticket")
    key = _hash(ticket)
    record = TicketModel(key)
    mine: list[TicketModel] = []

    def used_by_this_connection() -> bool:
        stored = stored_as(TicketModel, key, {"used_by": connection_id})
        if stored is not None:
            mine.append(stored)
        return stored is not None

    unused = (TicketModel.ticket_hash.exists() & TicketModel.used_by.does_not_exist()
              & (TicketModel.expires_at > clock.epoch()))
    if not conditional(lambda: record.update(actions=[TicketModel.used_by.set(connection_id)], condition=unused),
                       already_done=used_by_this_connection):
        raise Unauthorized("unknown, expired or used ticket")
    used = mine[0] if mine else record
    return Principal(user_id=used.user_id, typ=used.user_type, role=used.role, name=used.user_name,
                     gen=int(used.token_gen or 0))
