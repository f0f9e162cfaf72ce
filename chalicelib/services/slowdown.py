"""Slow-downs: a few free attempts, then a required wait that doubles with each attempt (capped);
never a lock. Each attempt is counted *before* it is tried (a login's password is checked only
once its attempt is counted), in one conditional write (a one-item transaction, so that a retry
after a lost answer is never counted twice), so concurrent attempts cannot pass more
than the free ones; a success gives its attempt back (``give_back``) or clears the subject
(``clear``), so only failures stay counted.

The subject's item holds ``strikes`` (attempts counted), ``next_at`` (no attempt before then) and
``wait`` (what the next attempt past the free ones imposes). The state is read, then the write that
counts the attempt is conditioned on what the decision rests on: among the free attempts only on
there being room (``strikes`` below the last free one: concurrent attempts add up without
conflicting), past them on the exact count and ``next_at`` having passed (one attempt per wait).
Strikes are forgotten ``forget`` seconds after the last attempt, or after the wait it started
(``expires_at``).
"""

from __future__ import annotations

import math
import uuid

import msgspec

from chalicelib import clock
from chalicelib.errors import RateLimited
from chalicelib.models import LimitModel
from chalicelib.models.base import Transaction, get_or_none, retrying, rounds
from chalicelib.models.limit import not_recorded, records

ROUNDS = 12


class Pace(msgspec.Struct, frozen=True):
    """``free`` attempts without waiting; then each attempt needs ``first_wait`` seconds after the
    previous one, doubling up to ``max_wait``; all forgotten ``forget`` seconds after the last."""

    what: str  # for the refusal's message: "failed logins for this account"
    free: int
    first_wait: float
    max_wait: float
    forget: float

    def wait_after(self, wait: float) -> float:
        return min(self.max_wait, wait * 2)


def _live(item: LimitModel | None, now: float) -> LimitModel | None:
    """The item, unless absent or forgotten (TTL deletes late)."""
    return item if item is not None and item.expires_at > now and item.strikes is not None else None


def _refusal(pace: Pace, next_at: float, now: float) -> RateLimited:
    wait = max(1, math.ceil(next_at - now))
    return RateLimited(f"too many {pace.what}; retry in {wait} s", retry_after=wait)


def _count(key: str, pace: Pace, item: LimitModel | None, now: float, request_id: str) -> bool:
    """One conditional write counting this attempt on the state ``item`` showed; False when the
    state moved meanwhile (read again and decide again)."""
    no_wait_pending = LimitModel.next_at.does_not_exist() | (LimitModel.next_at <= now)

    def common(wait: float = 0.0) -> list:  # forgotten ``forget`` seconds after the wait it starts
        return [records(request_id, now), LimitModel.expires_at.set(math.ceil(now + wait + pace.forget))]

    if item is None:  # the first attempt (or the first since the strikes were forgotten)
        actions = [LimitModel.strikes.set(1)]
        if pace.free <= 1:
            actions += [LimitModel.next_at.set(now + pace.first_wait),
                        LimitModel.wait.set(pace.wait_after(pace.first_wait)), *common(pace.first_wait)]
        else:
            actions += [LimitModel.next_at.remove(), LimitModel.wait.set(pace.first_wait), *common()]
        condition = (LimitModel.key.does_not_exist() | (LimitModel.expires_at <= now)
                     | LimitModel.strikes.does_not_exist())
    elif item.strikes < pace.free - 1:  # free, and not the last free one: room is enough
        actions = [LimitModel.strikes.add(1), *common()]
        condition = ((LimitModel.expires_at > now) & (LimitModel.strikes < pace.free - 1)
                     & no_wait_pending)
    else:  # the last free attempt, or one past them: its wait starts now
        wait = item.wait or pace.first_wait
        actions = [LimitModel.strikes.add(1), LimitModel.next_at.set(now + wait),
                   LimitModel.wait.set(pace.wait_after(wait)), *common(wait)]
        condition = ((LimitModel.expires_at > now) & (LimitModel.strikes == item.strikes)
                     & no_wait_pending)
    # A one-item transaction for its ClientRequestToken: a retry after a lost answer meets its own
    # success (DynamoDB answers the same token with the first outcome for ten minutes) however many
    # other attempts wrote meanwhile; the request-id slot alone could be taken by one of them, and
    # the attempt counted twice. Logins are rare: the transaction's double write cost is nothing.
    tx = Transaction()
    tx.update("count", LimitModel(key), actions=actions, condition=condition & not_recorded(request_id))
    return not tx.commit()


def take(key: str, pace: Pace, request_id: str | None = None) -> None:
    """Count one attempt for ``key``, or refuse it (``RateLimited`` with ``retry_after``) while a
    wait is running."""
    request_id = request_id or uuid.uuid4().hex
    for _ in rounds(ROUNDS):
        now = clock.epoch()
        item = _live(get_or_none(LimitModel, key), now)
        if item is not None and item.next_at is not None and item.next_at > now:
            raise _refusal(pace, item.next_at, now)
        if _count(key, pace, item, now, request_id):
            return
    raise RateLimited(f"too many simultaneous {pace.what}; retry in 1 s", retry_after=1)


def give_back(key: str, request_id: str) -> None:
    """Uncount an attempt that succeeded (once, however often a lost answer makes this retry). A
    wait it started keeps running. A one-item transaction for its token, as ``_count``: the slot
    alone could be taken by another attempt before the retry, and the attempt given back twice."""
    returned = f"{request_id}:back"
    tx = Transaction()
    tx.update("give back", LimitModel(key), actions=[LimitModel.strikes.add(-1), records(returned, clock.epoch())],
              condition=(LimitModel.strikes > 0) & not_recorded(returned))
    tx.commit()


def clear(key: str) -> None:
    """Forget every strike of ``key`` (its owner proved who they are)."""
    retrying(LimitModel(key).delete)
