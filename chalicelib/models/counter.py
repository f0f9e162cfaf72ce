"""Named atomic counters and unique claims (PK name): the queue's counter, username claims, a
visitor's one open session, the sweep's cursor.

The queue counter (``queue``) holds the ticket sequences (``issued``, and ``front_issued`` for
customers handed back), the queue ``length`` (waiting sessions plus tickets held for sessions
about to wait) and, for each ticket held, its number under a key of its own (``held``) with the
position it was told (``told``): a write that finds its key already there knows it applied.
It also holds the tickets of the waiting sessions (``waiting``), changed by the same writes that
change the length, so one read gives every waiter's exact position.

The announcements' item (``queue-announcements``) holds their numbers (``issued``), the lease of
the one announcer running (``lease_until``, ``lease_owner``) and the moves asked about and told
(``requested``, ``done``); ``queue-told`` the waiting tickets the last announcement told
(``waiting``) and those it could not reach yet (``untold``).

The roster (``agents-online``) holds the ids of the agents whose stored status is ``online``
(``members``), written in the same transaction as every status change into or out of ``online``.
"""

from pynamodb.attributes import (
    MapAttribute,
    NumberAttribute,
    NumberSetAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)

from chalicelib.models.base import KefuModel, table_meta

QUEUE_COUNTER = "queue"


class CounterModel(KefuModel):
    """A counter item; every write is an atomic update, so concurrent writers never lose one."""

    Meta = table_meta("counters")

    name = UnicodeAttribute(hash_key=True)
    issued = NumberAttribute(default=0)
    front_issued = NumberAttribute(null=True)
    length = NumberAttribute(default=0)
    held = MapAttribute(null=True)  # ticket key -> ticket number, while the ticket is held
    told = MapAttribute(null=True)  # ticket key -> the position the ticket gave
    last_enqueued_at = NumberAttribute(null=True)  # epoch seconds of the last ticket issued
    ref = UnicodeAttribute(null=True)  # what a claim points at (e.g. the open session id)
    waiting = NumberSetAttribute(null=True)  # tickets of the sessions waiting (queue), or as last told
    untold = NumberSetAttribute(null=True)  # waiting tickets the last announcement did not reach
    requested = NumberAttribute(null=True)  # announcements asked for (one per queue move)
    done = NumberAttribute(null=True)  # ``requested`` as of the last announcement that finished
    lease_until = NumberAttribute(null=True)  # the announcer's lease, epoch seconds
    lease_owner = UnicodeAttribute(null=True)
    members = UnicodeSetAttribute(null=True)  # the roster: ids of the agents whose status is online
