"""Limit state (PK ``key``: the limited subject, e.g. ``msg#<user_id>``, ``login-user#<name>``).

Every limit is decided by one conditional UpdateItem on its subject's item, so concurrent events
can never pass more than the limit allows:

- a *budget* (``services.budgets``, a token bucket in its GCRA form) keeps ``tat``, the time at which
  the bucket is full again; an event passes while ``tat`` is within the window of now;
- a *slow-down* (``services.slowdown``) keeps ``strikes`` (attempts counted), ``next_at`` (no attempt
  before then) and ``wait`` (the wait the next attempt past the free ones imposes; it doubles);
- a remembered login (``login-ok#<name>#<address>``) is only ``expires_at``.

``last_request`` / ``returned`` name the last request that counted / gave back, so a retry after a
lost answer recognises its own write. ``expires_at`` (TTL) drops idle items; an item past it is
read as absent (TTL deletes late).
"""

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib.models.base import KefuModel, table_meta


class LimitModel(KefuModel):
    """One limited subject's state."""

    Meta = table_meta("limits", ttl_attribute="expires_at")

    key = UnicodeAttribute(hash_key=True)
    tat = NumberAttribute(null=True)
    strikes = NumberAttribute(null=True)
    next_at = NumberAttribute(null=True)
    wait = NumberAttribute(null=True)
    last_request = UnicodeAttribute(null=True)
    returned = UnicodeAttribute(null=True)
    expires_at = NumberAttribute(default=0)
