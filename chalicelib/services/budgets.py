"""Budgets: a token bucket per subject, in its GCRA form, decided by one conditional write.

A budget of ``size`` events per ``window`` lets ``size`` events through at once and then one every
``window / size`` seconds (the bucket refills steadily; nothing is ever refused for longer than
that interval once the burst has aged out). The subject's item holds ``tat``, the time at which
its bucket is full again; an event passes when ``tat`` is at most ``window - interval`` ahead of
now, and moves ``tat`` one interval on. DynamoDB's update expressions have no ``max``, so two
conditional writes share the rule: one for an idle bucket (``tat`` in the past: it starts from
now) and one for a busy bucket (``tat + interval`` under the condition that it stays within the
window). Each event is decided by the one of them whose condition holds; concurrent events on a
busy bucket add up in DynamoDB without conflicting, and none passes the budget. An idle bucket is
one write, a busy one two, a refusal two and a read (for ``Retry-After``); a container that saw
the bucket busy (the ``tat`` its last write left is still ahead) tries the busy write first, so a
busy bucket it keeps spending from costs it one write too (an address many visitors share).

Each write records its request id (``models.limit``): a retry after a lost answer that meets its
own write counts once. When another request's write took the same slot meanwhile, whether the lost
write applied cannot be known; the event passes as if it had. At worst (an ambiguous error that did
not apply, and a write to the same slot within that moment) an event passes uncounted; the other
way, a customer would be refused for an event their own write had already counted (20 racing
sign-ups with one answer lost: 4 of 5 passed).
"""

from __future__ import annotations

import math
import uuid

import msgspec

from chalicelib import clock
from chalicelib.errors import RateLimited
from chalicelib.models import LimitModel
from chalicelib.models.base import conditional, get_or_none, rounds
from chalicelib.models.limit import has_recorded, not_recorded, records, written_over
from chalicelib.services.container import Recent

ROUNDS = 3

# key -> the ``tat`` this container's last write on it left: only which write to try first
_last_tat: Recent[str, float] = Recent(max_age=3600)


class Budget(msgspec.Struct, frozen=True):
    """``size`` events at once, refilled at ``size`` per ``window`` seconds."""

    what: str  # for the refusal's message: "sign-ups from this address"
    size: int
    window: float

    @property
    def interval(self) -> float:
        return self.window / max(1, self.size)

    @property
    def slack(self) -> float:
        """How far ahead of now ``tat`` may be for an event to pass."""
        return self.window - self.interval


def _stored_by(key: str, request_id: str, since: float):
    """``already_done`` for a write that named ``request_id``, begun at ``since``: its slot holds
    it, or another request's written since (see the module docstring)."""

    def already_done() -> bool:
        item = get_or_none(LimitModel, key)
        return has_recorded(item, request_id) or written_over(item, request_id, since)

    return already_done


def _start_idle(key: str, budget: Budget, now: float, request_id: str) -> bool:
    """The bucket is idle (or new, or expired): it starts from now."""
    tat = now + budget.interval
    applied = conditional(lambda: LimitModel(key).update(
        actions=[LimitModel.tat.set(tat), records(request_id, now), LimitModel.expires_at.set(math.ceil(tat) + 1)],
        condition=(LimitModel.tat.does_not_exist() | (LimitModel.tat <= now)) & not_recorded(request_id)),
        already_done=_stored_by(key, request_id, now))
    if applied:
        _last_tat.put(key, tat)
    return applied


def _add_busy(key: str, budget: Budget, now: float, request_id: str) -> bool:
    """The bucket is busy: one more interval, if that stays within the window."""
    item = LimitModel(key)
    applied = conditional(lambda: item.update(
        actions=[LimitModel.tat.set(LimitModel.tat + budget.interval),
                 records(request_id, now),
                 LimitModel.expires_at.set(math.ceil(now + budget.window) + 1)],  # tat stays below
        condition=(LimitModel.tat > now) & (LimitModel.tat <= now + budget.slack) & not_recorded(request_id)),
        already_done=_stored_by(key, request_id, now))
    if applied:
        _last_tat.put(key, item.tat if item.tat is not None else now + budget.interval)
    return applied


def spend(key: str, budget: Budget, request_id: str | None = None) -> None:
    """Take one event from ``key``'s budget, or refuse it (``RateLimited`` with ``retry_after``,
    the seconds until one event fits again)."""
    request_id = request_id or uuid.uuid4().hex
    for _ in rounds(ROUNDS):
        now = clock.epoch()
        last_tat = _last_tat.get(key)
        writes = (_add_busy, _start_idle) if last_tat is not None and last_tat > now else (_start_idle, _add_busy)
        if any(write(key, budget, now, request_id) for write in writes):
            return
        item = get_or_none(LimitModel, key)
        if item is not None and item.tat is not None and item.tat > now + budget.slack:
            wait = max(1, math.ceil(item.tat - now - budget.slack))
            raise RateLimited(f"too many {budget.what}; retry in {wait} s", retry_after=wait)
        # The item changed between the writes (expired, deleted): decide again.
    raise RateLimited(f"too many simultaneous {budget.what}; retry in 1 s", retry_after=1)
