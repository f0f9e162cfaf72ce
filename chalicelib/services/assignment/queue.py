"""The queue: the only writer of the queue counter, and the reader of the waiting line.

A waiting session carries ``queue_pool`` and a ``queue_ticket`` written in the same write as its
``status = queued`` (the session's creation, or the transaction that hands it back), so every
queued session is in the ``queue`` index. Customers handed back because their agent left take
tickets from a separate sequence below every other, so they are served first.

The queue length is exact by construction: it counts the waiting sessions and the tickets held
for sessions about to wait, and each write that changes either changes it in the same request.
- ``take_ticket``: one conditional update adds one to the length and records the ticket (and the
  position it gives: the length) under a fresh key in ``held``; a retry after a lost answer finds
  its key there and reads its ticket back instead of adding again. Customers arriving together
  are told unique, consecutive positions.
- ``add_use``: the transaction that puts the session in the queue removes the key, on the
  condition that it is still held; ``add_leave``: the transaction that takes a session out takes
  one off the length. A transaction keeps one ClientRequestToken across its retries.
- ``give_back``: a ticket not used goes (length minus one, key removed, on the same condition),
  on every failure path; the sweep gives back tickets held past ``HOLD_SECONDS`` (a holder that
  died before its session write). Using and giving back are exclusive, so neither applies twice.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import msgspec
from pynamodb.expressions.condition import size

from chalicelib import clock
from chalicelib.errors import Conflict, Unavailable
from chalicelib.models import CounterModel, SessionModel
from chalicelib.models.base import Transaction, conditional, get_or_none, retrying
from chalicelib.models.batch import get_all
from chalicelib.models.counter import QUEUE_COUNTER
from chalicelib.models.session import QUEUE_POOL
from chalicelib.observability import logger
from chalicelib.services.assignment.deadline import UNBOUNDED, Deadline

FRONT_TICKET_BASE = -(10**15)
VIEW_PAGE = 100
# A ticket is used within one request (API Gateway gives up after 29 s): one held longer belongs
# to a request that died, and the sweep gives it back. A live holder slower than this finds its
# ticket gone when it writes (the write is conditioned on it) and takes another.
HOLD_SECONDS = 60.0
TAKE_ATTEMPTS = 3


class Ticket(msgspec.Struct):
    """A ticket held for one session: counted in the length until used or given back.
    ``position`` is the one it gives (None for a front ticket)."""

    key: str
    number: int
    position: int | None
    used: bool = False


def _new_key() -> str:
    """Unique, and says when it was taken (milliseconds first), so the sweep can age it."""
    return f"{int(clock.epoch() * 1000)}-{uuid.uuid4().hex[:12]}"


def held_since(key: str) -> float:
    return int(key.split("-", 1)[0]) / 1000


def take_ticket(front: bool = False) -> Ticket:
    """Hold a ticket (and the position it gives): the session write that follows must use it
    (``add_use``) or give it back; ``held_ticket`` does both."""
    key = _new_key()
    sequence = CounterModel.front_issued if front else CounterModel.issued
    first = FRONT_TICKET_BASE + 1 if front else 1
    actions = [
        sequence.set((sequence | 0) + 1),
        CounterModel.length.set((CounterModel.length | 0) + 1),
        CounterModel.held[key].set((sequence | 0) + first),
        CounterModel.told[key].set((CounterModel.length | 0) + 1),
        CounterModel.last_enqueued_at.set(clock.epoch()),
    ]
    condition = CounterModel.held.exists() & CounterModel.told.exists() & CounterModel.held[key].does_not_exist()
    for _ in range(TAKE_ATTEMPTS):
        counter = CounterModel(QUEUE_COUNTER)
        if conditional(lambda c=counter: c.update(actions=actions, condition=condition)):
            return _ticket_of(counter, key, front)
        stored = get_or_none(CounterModel, QUEUE_COUNTER)
        if stored is not None and stored.held is not None and key in stored.held.as_dict():
            return _ticket_of(stored, key, front)  # a retry met its own write
        _prepare_counter()
    raise Unavailable("the queue is busy; try again")


def _ticket_of(counter: CounterModel, key: str, front: bool) -> Ticket:
    return Ticket(key, int(counter.held.as_dict()[key]), None if front else int(counter.told.as_dict()[key]))


def _prepare_counter() -> None:
    """The maps a ticket is recorded in must exist before a key can be set inside them."""
    retrying(lambda: CounterModel(QUEUE_COUNTER).update(actions=[
        CounterModel.held.set(CounterModel.held | {}), CounterModel.told.set(CounterModel.told | {})]))


def _is_held(ticket: Ticket):
    return CounterModel.held[ticket.key].exists()


def add_use(tx: Transaction, ticket: Ticket) -> None:
    """Add "the ticket is used" to the transaction that puts its session in the queue: it stays
    counted in the length, as a waiting session now (among the ``waiting`` tickets). Cancelled
    (``ticket``) if it was given back."""
    tx.update("ticket", CounterModel(QUEUE_COUNTER),
              actions=[CounterModel.held[ticket.key].remove(), CounterModel.told[ticket.key].remove(),
                       CounterModel.waiting.add({ticket.number})],
              condition=_is_held(ticket))


def give_back(ticket: Ticket) -> bool:
    """The ticket's session write did not happen: it no longer counts. False when it was used
    or given back already (the condition makes a repeat harmless)."""
    return conditional(lambda: CounterModel(QUEUE_COUNTER).update(
        actions=[CounterModel.length.add(-1), CounterModel.held[ticket.key].remove(),
                 CounterModel.told[ticket.key].remove()],
        condition=_is_held(ticket)))


@contextlib.contextmanager
def held_ticket(front: bool = False) -> Iterator[Ticket]:
    """A ticket for the block, given back at its end unless the block set ``used`` (after the
    write that used it committed). A give-back that fails is left to the sweep."""
    ticket = take_ticket(front)
    try:
        yield ticket
    finally:
        if not ticket.used:
            try:
                give_back(ticket)
            except Exception:  # the sweep gives it back after HOLD_SECONDS; the caller's error stands
                logger.exception("ticket give-back failed", ticket=ticket.number)


def give_back_stale(deadline: Deadline = UNBOUNDED) -> list[int]:
    """Give back every ticket held past ``HOLD_SECONDS`` (its holder died before writing its
    session), until the deadline; returns their numbers."""
    counter = get_or_none(CounterModel, QUEUE_COUNTER)
    if counter is None or counter.held is None:
        return []
    cutoff = clock.epoch() - HOLD_SECONDS
    given = []
    for key, number in counter.held.as_dict().items():
        if held_since(key) >= cutoff:
            continue
        if deadline.passed():
            break
        if give_back(Ticket(key, int(number), None)):
            given.append(int(number))
    return given


def add_leave(tx: Transaction, ticket: int) -> None:
    """Add "one waiter fewer" (the one with ``ticket``) to a transaction that takes a session out
    of the queue."""
    tx.update("queue", CounterModel(QUEUE_COUNTER),
              actions=[CounterModel.length.add(-1), CounterModel.waiting.delete({int(ticket)})])


def queue_actions(ticket: int, queued_at: str) -> list:
    """Session actions that put it in the queue with ``ticket``."""
    return [SessionModel.status.set("queued"), SessionModel.queue_pool.set(QUEUE_POOL),
            SessionModel.queue_ticket.set(ticket), SessionModel.queued_at.set(queued_at)]


def enqueue(session: SessionModel, front: bool = False) -> int:
    """Put a queued session without a ticket in the queue (a repair); returns its position."""
    with held_ticket(front) as ticket:
        tx = Transaction()
        tx.update("session", SessionModel(session.session_id),
                  actions=queue_actions(ticket.number, session.queued_at or clock.iso()),
                  condition=(SessionModel.status == "queued") & SessionModel.queue_ticket.does_not_exist())
        add_use(tx, ticket)
        failed = tx.commit()
        ticket.used = not failed
    if failed:
        raise Conflict("session is no longer waiting")
    session.queue_pool, session.queue_ticket = QUEUE_POOL, ticket.number
    return ticket.position if ticket.position is not None else (position_of(session) or 1)


class QueueCount(msgspec.Struct, frozen=True):
    """The queue counter as read (consistently): ``length`` counts the waiting sessions and the
    tickets ``held`` for sessions about to wait; ``tickets`` are the waiting sessions' tickets
    (None when the counter does not hold them all: written before it kept them)."""

    length: int
    held: int
    last_ticket_at: float | None
    tickets: frozenset[int] | None = None

    @property
    def waiting(self) -> int:
        """The sessions in the queue now, exactly."""
        return max(0, self.length - self.held)

    def position(self, ticket: int) -> int | None:
        """The exact position (1 = next) of the waiting ticket, from the tickets; None unknown."""
        if self.tickets is None or ticket not in self.tickets:
            return None
        return sum(1 for t in self.tickets if t < ticket) + 1


def count_of(counter: CounterModel | None) -> QueueCount:
    if counter is None:
        return QueueCount(0, 0, None, frozenset())
    held = len(counter.held.as_dict()) if counter.held is not None else 0
    last = float(counter.last_enqueued_at) if counter.last_enqueued_at is not None else None
    length = max(0, int(counter.length or 0))
    tickets = frozenset(int(t) for t in counter.waiting or ())
    return QueueCount(length, held, last, tickets if len(tickets) == max(0, length - held) else None)


def count() -> QueueCount:
    return count_of(get_or_none(CounterModel, QUEUE_COUNTER))


def repair_tickets(deadline: Deadline = UNBOUNDED) -> bool:
    """A counter that does not hold every waiting ticket (written before it kept them): rebuild
    them from the queue, read whole and confirmed, on the condition that no ticket was taken,
    used, given back or left meanwhile (the length and the tickets held are as read). True when
    it wrote; otherwise the next sweep tries again."""
    counter = get_or_none(CounterModel, QUEUE_COUNTER)
    counted = count_of(counter)
    if counter is None or counted.tickets is not None:
        return False
    waiting = waiting_sessions(deadline=deadline)
    if deadline.passed() or len(waiting) != counted.waiting:
        return False  # the index has not caught up: next time
    tickets = {int(s.queue_ticket) for s in waiting}
    unchanged = CounterModel.length == int(counter.length or 0)
    unchanged &= (size(CounterModel.held) == counted.held if counter.held is not None
                  else CounterModel.held.does_not_exist())
    action = CounterModel.waiting.set(tickets) if tickets else CounterModel.waiting.remove()
    return conditional(lambda: CounterModel(QUEUE_COUNTER).update(actions=[action], condition=unchanged))


def queue_length() -> int:
    """The waiting customers and those about to wait (their ticket held): a newcomer is behind
    all of them."""
    return count().length


def waiting_sessions(limit: int | None = None, deadline: Deadline = UNBOUNDED) -> list[SessionModel]:
    """Sessions still waiting (each confirmed by a consistent read), oldest ticket first. The
    index may not list one that joined a moment ago; compare with ``count().waiting`` to know.
    Read page by page, the next page only before the deadline."""
    return _waiting_page(limit, None, deadline)


def position_of(session: SessionModel) -> int | None:
    """The waiting session's exact position: from the counter's tickets (one read), or else 1 +
    the sessions the index lists ahead of it that a consistent read confirms still wait (the index
    may still list one who left a moment ago)."""
    if session.queue_ticket is None or session.status != "queued":
        return None
    known = count().position(int(session.queue_ticket))
    if known is not None:
        return known
    ahead = list(SessionModel.queue.query(QUEUE_POOL, SessionModel.queue_ticket < session.queue_ticket))
    return len(_still_waiting(ahead)) + 1


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


def _waiting_page(limit: int | None, after: int | None, deadline: Deadline = UNBOUNDED) -> list[SessionModel]:
    """Up to ``limit`` sessions still waiting after ticket ``after``: the index is read on past
    rows that turn out to have left, so a page is never short while more customers wait."""
    page: list[SessionModel] = []
    while limit is None or len(page) < limit:
        wanted = VIEW_PAGE if limit is None else min(VIEW_PAGE, limit - len(page))
        condition = SessionModel.queue_ticket > after if after is not None else None
        listed = list(SessionModel.queue.query(QUEUE_POOL, condition, limit=wanted))
        page += _still_waiting(listed)
        if len(listed) < wanted or deadline.passed():
            break
        after = int(listed[-1].queue_ticket)
    return page


def queue_view(limit: int | None = None, after: int | None = None) -> list[dict[str, Any]]:
    """A page of the waiting customers (``limit``; all when None), oldest first, with how long
    each has waited; ``after`` is the last ``ticket`` of the previous page."""
    now = clock.epoch()
    page = _waiting_page(limit, after)
    # A later page starts at its first customer's exact position (the index would still count
    # those ahead who left a moment ago).
    first = 1 if after is None or not page else position_of(page[0]) or \
        SessionModel.queue.count(QUEUE_POOL, SessionModel.queue_ticket <= after) + 1
    view = []
    for position, session in enumerate(page, start=first):
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
