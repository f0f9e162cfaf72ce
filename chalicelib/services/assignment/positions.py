"""The order of queue position notices: within one session version (docs/protocol.md), a notice
with a higher ``position_seq`` is the newer one.

Each announcement draws its number (an ``ADD`` on its own counter) before it reads the queue, so
of any two, the one with the higher number read the queue after the other was drawn, and after
every queue move committed before it was drawn: the last one a client keeps is never older than
the last move announced. A position told on request (``get_session``) draws its own number the
same way: one number is one reading of the queue, so two customers never hear the same position
under one number. A repeat of a lost ``ADD`` only leaves a gap.
"""

from __future__ import annotations

from chalicelib.models import CounterModel
from chalicelib.models.base import get_or_none, retrying

ANNOUNCEMENTS = "queue-announcements"


def next_announcement() -> int:
    """The number of an announcement about to read the queue: above every one drawn before."""
    counter = CounterModel(ANNOUNCEMENTS)
    retrying(lambda: counter.update(actions=[CounterModel.issued.add(1)]))
    return int(counter.issued)


def last_announcement() -> int:
    """The number of the latest announcement drawn (0: none yet), for a position read now."""
    counter = get_or_none(CounterModel, ANNOUNCEMENTS)
    return int(counter.issued or 0) if counter is not None else 0
