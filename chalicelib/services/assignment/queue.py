"""The queue: the only writer of the queue counters, and the reader of the waiting line.

A waiting session carries ``queue_pool`` and a ``queue_ticket`` written in the same write as its
``status = queued`` (the session's creation, or the transaction that hands it back), so every
queued session is in the ``queue`` index. Tickets come from one atomic counter update
(``ADD issued 1, length 1``) that also yields the position: customers arriving together are told
unique, consecutive positions. Customers handed back because their agent left take tickets from a
separate counter below every other, so they are served first.
"""

from __future__ import annotations

from typing import Any

from chalicelib import clock
from chalicelib.errors import Conflict
from chalicelib.models import CounterModel, SessionModel
from chalicelib.models.base import Transaction, conditional, get_or_none, retrying
from chalicelib.models.batch import get_all
from chalicelib.models.counter import FRONT_COUNTER, QUEUE_COUNTER
from chalicelib.models.session import QUEUE_POOL

FRONT_TICKET_BASE = -(10**15)
VIEW_PAGE = 100


def allocate_ticket(front: bool = False) -> tuple[int, int | None]:
    """A ticket and the position it gives (None for a front ticket), counted in the length now:
    the session write that follows must use it or ``give_back``."""
    now = clock.epoch()
    counter = CounterModel(QUEUE_COUNTER)
    if front:
        front_counter = CounterModel(FRONT_COUNTER)
        retrying(lambda: front_counter.update(actions=[CounterModel.issued.add(1)]))
        retrying(lambda: counter.update(actions=[CounterModel.length.add(1),
                                                 CounterModel.last_enqueued_at.set(now)]))
        return FRONT_TICKET_BASE + int(front_counter.issued), None
    retrying(lambda: counter.update(actions=[CounterModel.issued.add(1), CounterModel.length.add(1),
                                             CounterModel.last_enqueued_at.set(now)]))
    return int(counter.issued), int(counter.length)


def give_back() -> None:
    """A ticket's session write did not happen: it no longer counts in the length."""
    retrying(lambda: CounterModel(QUEUE_COUNTER).update(actions=[CounterModel.length.add(-1)]))


def add_leave(tx: Transaction) -> None:
    """Add "one waiter fewer" to a transaction that takes a session out of the queue."""
    tx.update("queue", CounterModel(QUEUE_COUNTER), actions=[CounterModel.length.add(-1)])


def queue_actions(ticket: int, queued_at: str) -> list:
    """Session actions that put it in the queue with ``ticket``."""
    return [SessionModel.status.set("queued"), SessionModel.queue_pool.set(QUEUE_POOL),
            SessionModel.queue_ticket.set(ticket), SessionModel.queued_at.set(queued_at)]


def enqueue(session: SessionModel, front: bool = False) -> int:
    """Put a queued session without a ticket in the queue (a repair); returns its position."""
    ticket, position = allocate_ticket(front)
    actions = queue_actions(ticket, session.queued_at or clock.iso())

    def mine() -> bool:
        fresh = get_or_none(SessionModel, session.session_id)
        return fresh is not None and fresh.queue_ticket == ticket

    if not conditional(lambda: session.update(
            actions=actions,
            condition=(SessionModel.status == "queued") & SessionModel.queue_ticket.does_not_exist()),
            already_done=mine):
        give_back()
        raise Conflict("session is no longer waiting")
    return position if position is not None else (position_of(session) or 1)


def queue_length() -> int:
    counter = get_or_none(CounterModel, QUEUE_COUNTER)
    return max(0, int(counter.length or 0)) if counter is not None else 0


def waiting_sessions(limit: int | None = None) -> list[SessionModel]:
    """Sessions still waiting (each confirmed by a consistent read), oldest ticket first. The
    index may not list one that joined a moment ago; compare with ``queue_length`` to know."""
    return _waiting_page(limit, None)


def position_of(session: SessionModel) -> int | None:
    if session.queue_ticket is None or session.status != "queued":
        return None
    ahead = SessionModel.queue.count(QUEUE_POOL, SessionModel.queue_ticket < session.queue_ticket)
    return ahead + 1


def _still_waiting(listed: list[SessionModel]) -> list[SessionModel]:
    """The index's waiting sessions that, read now (consistently), still wait with the same ticket:
    the index lags, so a customer who just left or was assigned may still be listed there. (One who
    joined a moment ago may be missing: that is the lag of discovery, not a wrong row.)"""
    if not listed:
        return []
    fresh = {s.session_id: s for s in get_all(SessionModel, [s.session_id for s in listed])}
    return [fresh[s.session_id] for s in listed
            if s.session_id in fresh and fresh[s.session_id].status == "queued"
            and fresh[s.session_id].queue_ticket == s.queue_ticket]


def _waiting_page(limit: int | None, after: int | None) -> list[SessionModel]:
    """Up to ``limit`` sessions still waiting after ticket ``after``: the index is read on past
    rows that turn out to have left, so a page is never short while more customers wait."""
    page: list[SessionModel] = []
    while limit is None or len(page) < limit:
        wanted = None if limit is None else limit - len(page)
        condition = SessionModel.queue_ticket > after if after is not None else None
        listed = list(SessionModel.queue.query(QUEUE_POOL, condition, limit=wanted))
        page += _still_waiting(listed)
        if not listed or wanted is None or len(listed) < wanted:
            break
        after = int(listed[-1].queue_ticket)
    return page


def queue_view(limit: int | None = None, after: int | None = None) -> list[dict[str, Any]]:
    """A page of the waiting customers (``limit``; all when None), oldest first, with how long
    each has waited; ``after`` is the last ``ticket`` of the previous page."""
    now = clock.epoch()
    first = 1 if after is None else SessionModel.queue.count(QUEUE_POOL, SessionModel.queue_ticket <= after) + 1
    view = []
    for position, session in enumerate(_waiting_page(limit, after), start=first):
        since = session.queued_at or session.created_at
        view.append({
            "session_id": session.session_id,
            "customer_id": session.visitor_id,
            "customer_name": session.visitor_name,
            "position": position,
            "ticket": int(session.queue_ticket),
            "waiting_since": since,
            "wait_seconds": round(max(0.0, now - clock.epoch_of(since)), 3),
        })
    return view


def set_length(real: int, seen: CounterModel) -> bool:
    """Reconciliation: the length becomes ``real`` if nobody enqueued or left since ``seen``."""
    condition = (CounterModel.length == int(seen.length or 0)) & (CounterModel.issued == int(seen.issued or 0))
    return conditional(lambda: CounterModel(QUEUE_COUNTER).update(actions=[CounterModel.length.set(real)],
                                                                  condition=condition))


def counter_state() -> CounterModel | None:
    return get_or_none(CounterModel, QUEUE_COUNTER)
