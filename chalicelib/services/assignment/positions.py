"""Queue position notices: their order, what a waiter is shown, and the one announcer at a time.

Order: within one session version (docs/protocol.md), a notice with a higher ``position_seq`` is
the newer one. Each announcement draws its number (an ``ADD`` on the announcements' item) before it
reads the queue, so of any two, the one with the higher number read the queue after the other was
drawn, and after every queue move committed before it was drawn: the last one a client keeps is
never older than the last move announced. A position told on request (``get_session``) draws its
own number the same way: one number is one reading of the queue, so two customers never hear the
same position under one number. A repeat of a lost ``ADD`` only leaves a gap.

What a waiter is shown: the first ``EXACT_POSITIONS`` their exact position; the others a band
(11-20, 21-50, 51-100, 101-200, 201-500, ...), which changes only when they cross one of its ends,
so a move of the queue is told to the first waiters and to one waiter per band boundary, not to
every waiter.

One announcer at a time: the announcements' item holds a lease. A move asks for an announcement
(``request``): when nobody holds the lease the caller takes it and announces; otherwise the
request is counted (``requested``) and the holder, before letting go (``release``, conditioned on
no request having come since it read the count), runs again: every move that arrives while one
runs is told by its next run (coalescing). A holder that dies lets its lease lapse after
``LEASE_SECONDS``; the next move, or the minute sweep (``pending``), runs the announcement then.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator

import msgspec

from chalicelib import clock
from chalicelib.models import CounterModel
from chalicelib.models.base import conditional, get_or_none, retrying, stored_as

ANNOUNCEMENTS = "queue-announcements"
EXACT_POSITIONS = 10
LEASE_SECONDS = 30.0  # far beyond one announcement (it stops at its request's deadline)
REQUEST_ROUNDS = 3


def _band_ends() -> Iterator[int]:
    """10, 20, 50, 100, 200, 500, 1000, 2000, 5000..."""
    yield EXACT_POSITIONS
    high = 2 * EXACT_POSITIONS
    for factor in itertools.cycle((2.5, 2, 2)):
        yield high
        high = int(high * factor)


def band_of(position: int) -> tuple[int, int] | None:
    """The band a waiter beyond the first ``EXACT_POSITIONS`` is shown: 11-20, 21-50, 51-100,
    101-200, 201-500, 501-1000, 1001-2000... (None within the first ones: they see their position)."""
    if position <= EXACT_POSITIONS:
        return None
    low = EXACT_POSITIONS
    for high in _band_ends():
        if high > low and position <= high:
            return low + 1, high
        low = high
    raise AssertionError("unreachable")


def shown(position: int) -> int | tuple[int, int]:
    """What a waiter at ``position`` sees: the position itself, or its band."""
    return band_of(position) or position


class Lease(msgspec.Struct, frozen=True):
    """The announcer's: its announcement's number, and the requests counted when it drew it."""

    owner: str
    seq: int
    requested: int


def _lease_of(counter: CounterModel, owner: str) -> Lease:
    return Lease(owner, int(counter.issued or 0), int(counter.requested or 0))


def request() -> Lease | None:
    """A queue move asks for an announcement. Returns the lease (with the announcement's number)
    when the caller is to announce; None when the holder will (the request is counted for it)."""
    for _ in range(REQUEST_ROUNDS):
        owner = uuid.uuid4().hex
        counter = CounterModel(ANNOUNCEMENTS)
        now = clock.epoch()
        taken = conditional(
            lambda c=counter, o=owner, t=now: c.update(
                actions=[CounterModel.issued.add(1), CounterModel.requested.add(1),
                         CounterModel.lease_until.set(t + LEASE_SECONDS), CounterModel.lease_owner.set(o)],
                condition=CounterModel.lease_until.does_not_exist() | (CounterModel.lease_until < t)),
            already_done=lambda o=owner: stored_as(CounterModel, ANNOUNCEMENTS, {"lease_owner": o}) is not None)
        if taken:
            return _lease_of(counter if counter.lease_owner == owner else get_or_none(CounterModel, ANNOUNCEMENTS),
                             owner)
        counted = CounterModel(ANNOUNCEMENTS)
        retrying(lambda c=counted: c.update(actions=[CounterModel.requested.add(1)]))
        if counted.lease_until is not None and float(counted.lease_until) >= clock.epoch():
            return None  # the holder sees this request when it lets go, and runs again
        # The holder let go between the two writes, before this request counted: take the lease.
    return None


def renew(lease: Lease) -> Lease | None:
    """The holder runs again (requests came while it ran): a new number and a longer lease. None
    when it no longer holds the lease (it lapsed and someone took it)."""
    counter = CounterModel(ANNOUNCEMENTS)
    now = clock.epoch()
    if not conditional(lambda: counter.update(
            actions=[CounterModel.issued.add(1), CounterModel.lease_until.set(now + LEASE_SECONDS)],
            condition=CounterModel.lease_owner == lease.owner)):
        return None
    return _lease_of(counter, lease.owner)


def release(lease: Lease, finished: bool = True) -> bool:
    """Let go of the lease. ``finished`` (the announcement told everyone): record the requests
    told, unless a request came since the holder drew its number: False then, and the holder runs
    again (``renew``). Not finished (it stopped at its deadline): let go whatever came; the moves
    stay counted as not told (``pending``) for the next move or the sweep."""
    actions = [CounterModel.lease_until.remove(), CounterModel.lease_owner.remove()]
    condition = CounterModel.lease_owner == lease.owner
    if finished:
        actions.append(CounterModel.done.set(lease.requested))
        condition &= CounterModel.requested == lease.requested
    return conditional(
        lambda: CounterModel(ANNOUNCEMENTS).update(actions=actions, condition=condition),
        already_done=lambda: stored_as(CounterModel, ANNOUNCEMENTS, {"lease_owner": None}) is not None)


def pending() -> bool:
    """Moves not told yet and nobody announcing (a holder died, or stopped at its deadline)."""
    counter = get_or_none(CounterModel, ANNOUNCEMENTS)
    if counter is None or (counter.lease_until is not None and float(counter.lease_until) >= clock.epoch()):
        return False
    return int(counter.requested or 0) > int(counter.done or 0)


def next_announcement() -> int:
    """A number for a position read on request, drawn before the read: above every one drawn
    before (no lease: it tells one waiter, not the queue)."""
    counter = CounterModel(ANNOUNCEMENTS)
    retrying(lambda: counter.update(actions=[CounterModel.issued.add(1)]))
    return int(counter.issued)


def last_announcement() -> int:
    """The number of the latest announcement drawn (0: none yet), for a position read now."""
    counter = get_or_none(CounterModel, ANNOUNCEMENTS)
    return int(counter.issued or 0) if counter is not None else 0
