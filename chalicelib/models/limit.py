"""Limit state (PK ``key``: the limited subject, e.g. ``msg#<user_id>``, ``login-user#<name>``).

Every limit is decided by one conditional UpdateItem on its subject's item, so concurrent events
can never pass more than the limit allows:

- a *budget* (``services.budgets``, a token bucket in its GCRA form) keeps ``tat``, the time at which
  the bucket is full again; an event passes while ``tat`` is within the window of now;
- a *slow-down* (``services.slowdown``) keeps ``strikes`` (attempts counted), ``next_at`` (no attempt
  before then) and ``wait`` (the wait the next attempt past the free ones imposes; it doubles);
- a remembered login (``login-ok#<name>#<address>``) is only ``expires_at``.

Every write records its request id in one of ``REQUEST_SLOTS`` attributes (``request_0``...,
picked by a hash of the id), as ``<ms>:<token>`` (when it was written, and 16 hex digits of the id's
hash), and is conditioned on that slot not holding its token yet: a retry after a lost answer meets
its own write, is refused by the condition and recognises itself, even when other requests wrote
meanwhile. When one of them took the same slot after this write began (1 in 16 per write landing in
between) the retry cannot tell whether its own write applied; ``written_over`` says so, and the
caller counts the event as its own (``services.budgets``). A slot written before that (slots are
never cleared) says nothing of this write. ``expires_at`` (TTL) drops idle items; an item past it is
read as absent (TTL deletes late).
"""

from __future__ import annotations

import hashlib
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib.models.base import KefuModel, table_meta

REQUEST_SLOTS = 16  # all of them full, a budget's item stays under 1 KB: one write unit
CLOCK_SLACK_SECONDS = 1.0  # how far apart concurrent requests' clocks may read


class LimitModel(KefuModel):
    """One limited subject's state."""

    Meta = table_meta("limits", ttl_attribute="expires_at")

    key = UnicodeAttribute(hash_key=True)
    tat = NumberAttribute(null=True)
    strikes = NumberAttribute(null=True)
    next_at = NumberAttribute(null=True)
    wait = NumberAttribute(null=True)
    expires_at = NumberAttribute(default=0)
    request_0 = UnicodeAttribute(null=True)
    request_1 = UnicodeAttribute(null=True)
    request_2 = UnicodeAttribute(null=True)
    request_3 = UnicodeAttribute(null=True)
    request_4 = UnicodeAttribute(null=True)
    request_5 = UnicodeAttribute(null=True)
    request_6 = UnicodeAttribute(null=True)
    request_7 = UnicodeAttribute(null=True)
    request_8 = UnicodeAttribute(null=True)
    request_9 = UnicodeAttribute(null=True)
    request_10 = UnicodeAttribute(null=True)
    request_11 = UnicodeAttribute(null=True)
    request_12 = UnicodeAttribute(null=True)
    request_13 = UnicodeAttribute(null=True)
    request_14 = UnicodeAttribute(null=True)
    request_15 = UnicodeAttribute(null=True)


def _digest(request_id: str) -> str:
    return hashlib.sha256(request_id.encode()).hexdigest()


def slot_for(request_id: str) -> str:
    """The attribute that records ``request_id``."""
    return f"request_{int(_digest(request_id)[:8], 16) % REQUEST_SLOTS}"


def marker(request_id: str) -> str:
    """What a slot holding ``request_id``'s write ends with (``:`` and 16 hex digits of its hash)."""
    return f":{_digest(request_id)[8:24]}"


def _recorded(item: LimitModel | None, request_id: str) -> str | None:
    return None if item is None else getattr(item, slot_for(request_id))


def records(request_id: str, at: float) -> Any:
    """The update action that records ``request_id`` in its slot, written at ``at`` (epoch s)."""
    return getattr(LimitModel, slot_for(request_id)).set(f"{int(at * 1000)}{marker(request_id)}")


def not_recorded(request_id: str) -> Any:
    """The condition that ``request_id`` has not written yet."""
    slot = getattr(LimitModel, slot_for(request_id))
    return slot.does_not_exist() | ~slot.contains(marker(request_id))


def has_recorded(item: LimitModel | None, request_id: str) -> bool:
    """Whether ``item`` as stored holds ``request_id``'s write."""
    recorded = _recorded(item, request_id)
    return recorded is not None and recorded.endswith(marker(request_id))


def written_over(item: LimitModel | None, request_id: str, since: float) -> bool:
    """Whether another request's write took ``request_id``'s slot at ``since`` (epoch s) or later,
    less a second for concurrent requests' clocks: whether ``request_id``'s own write, begun at
    ``since``, applied before it cannot be known from the item."""
    recorded = _recorded(item, request_id)
    if recorded is None or has_recorded(item, request_id):
        return False
    written_at = recorded.partition(":")[0]
    return written_at.isdigit() and int(written_at) >= (since - CLOCK_SLACK_SECONDS) * 1000
