"""Announcing queue positions after the queue moved: to whom, reading only them.

The queue counter holds the tickets of every waiting session (``queue.count().tickets``), so one
consistent read gives every exact position. The tickets the last announcement told are kept
(``queue-told``); comparing the two says whose shown position (``positions.shown``: exact for the
first waiters, a band beyond) changed. Only those are looked up and told: the first waiters and,
per band boundary crossed, one waiter per move, whatever the length of the queue. They are read
from the queue index, one Query per run of consecutive positions (a ticket identifies its
session; the rows of sessions that left are dropped, since their tickets are no longer waiting).
The index lags: a waiter it does not show yet is looked for again within ``KEFU_INDEX_LAG``, and
one still missing is kept as not told (``untold``), told by the next announcement (the sweep runs
one when moves are left untold). A socket opened a moment ago may be missing from the index's copy
of the session: its client asks for its state once connected (docs/protocol.md).

One announcer runs at a time (``positions``: a lease); moves that arrive while it runs are told by
its next run. A queue counter written before it kept the tickets is announced the old way (every
waiter, read from the index and confirmed), until the sweep rebuilds the tickets
(``queue.repair_tickets``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from chalicelib.config import get_config
from chalicelib.models import CounterModel, SessionModel
from chalicelib.models.base import conditional
from chalicelib.models.batch import get_all
from chalicelib.models.counter import QUEUE_COUNTER
from chalicelib.models.session import QUEUE_POOL
from chalicelib.services import notify
from chalicelib.services.assignment import positions, queue
from chalicelib.services.assignment.deadline import UNBOUNDED, Deadline

TOLD = "queue-told"
LOOK_AGAIN = 4
LOOKUPS_PER_RUN = 30  # index Queries per announcement at most; the waiters beyond hear the next one


def announce(deadline: Deadline = UNBOUNDED) -> None:
    """A queue move asks for an announcement: run it, or leave it to the announcer running."""
    lease = positions.request()
    while lease is not None:
        finished = announce_once(lease.seq, deadline)
        if finished and positions.release(lease):
            return
        if not finished or deadline.passed():
            positions.release(lease, finished=False)  # what is left: the next move, or the sweep
            return
        lease = positions.renew(lease)  # moves came while it ran: once more, for all of them


def announce_once(position_seq: int, deadline: Deadline = UNBOUNDED) -> bool:
    """Tell every waiter whose shown position changed since the last announcement; True when all
    of them were reached."""
    found = {item.name: item for item in get_all(CounterModel, [QUEUE_COUNTER, TOLD])}
    counted = queue.count_of(found.get(QUEUE_COUNTER))
    if counted.tickets is None:
        _announce_everyone(position_seq, deadline)
        return True
    order = sorted(counted.tickets)
    told = found.get(TOLD)
    before = {t: positions.shown(rank) for rank, t in enumerate(sorted(told.waiting or ()) if told else (), 1)}
    untold = {int(t) for t in (told.untold or ())} if told else set()
    changed = [(t, rank) for rank, t in enumerate(order, 1)
               if t in untold or before.get(t) != positions.shown(rank)]
    sessions, missing = _look_up([t for t, _ in changed], order, deadline)
    rank_of = dict(changed)
    notify.queue_positions([(sessions[t], rank_of[t]) for t, _ in changed if t in sessions], position_seq)
    _remember(position_seq, order, missing)
    return not missing


def _runs(tickets: Iterable[int], order: list[int]) -> list[list[int]]:
    """``tickets`` grouped into runs of consecutive positions in ``order``."""
    index = {t: i for i, t in enumerate(order)}
    runs: list[list[int]] = []
    for ticket in sorted(tickets, key=index.__getitem__):
        if runs and index[runs[-1][-1]] + 1 == index[ticket]:
            runs[-1].append(ticket)
        else:
            runs.append([ticket])
    return runs


def _look_up(tickets: list[int], order: list[int], deadline: Deadline) -> tuple[dict[int, SessionModel], set[int]]:
    """The waiting sessions holding ``tickets`` as the queue index shows them, and the tickets it
    did not show (after looking again within the index lag, and before the deadline)."""
    wanted, found = set(tickets), {}
    for attempt in range(LOOK_AGAIN):
        if attempt:
            time.sleep(get_config().index_lag_seconds / LOOK_AGAIN)
        for run in _runs(wanted - set(found), order)[:LOOKUPS_PER_RUN]:
            if deadline.passed():
                break
            rows = SessionModel.queue.query(QUEUE_POOL, SessionModel.queue_ticket.between(run[0], run[-1]))
            found |= {int(row.queue_ticket): row for row in rows if int(row.queue_ticket) in wanted}
        if len(found) == len(wanted) or deadline.passed():
            break
    return found, wanted - set(found)


def _remember(position_seq: int, order: list[int], missing: set[int]) -> None:
    """What this announcement told; an older one that finishes later does not overwrite it."""
    told = CounterModel(TOLD, issued=position_seq, waiting=set(order) or None, untold=set(missing) or None)
    conditional(lambda: told.save(condition=CounterModel.issued.does_not_exist()
                                  | (CounterModel.issued < position_seq)))


def _announce_everyone(position_seq: int, deadline: Deadline) -> None:
    """Before the counter kept the tickets: every waiter, read from the index and confirmed. The
    list stands when the number of waiting sessions (exact on the queue counter), read before and
    after it, equals its length; otherwise someone joined whom the index does not show yet, or
    left during the read: look again, within the index lag."""
    for _ in range(LOOK_AGAIN):
        waiting_before = queue.count().waiting
        waiting = queue.waiting_sessions(deadline=deadline)
        if waiting_before == len(waiting) == queue.count().waiting or deadline.passed():
            break
        time.sleep(get_config().index_lag_seconds / LOOK_AGAIN)
    notify.queue_positions(list(zip(waiting, range(1, len(waiting) + 1), strict=True)), position_seq)
