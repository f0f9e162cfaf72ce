"""Named atomic counters and unique claims (PK name): the queue's ticket and length counters,
username claims, a visitor's one open session."""

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib.models.base import KefuModel, table_meta

QUEUE_COUNTER = "queue"
FRONT_COUNTER = "queue-front"


class CounterModel(KefuModel):
    """A counter item; updated only with ``ADD`` so concurrent writers never lose an increment."""

    Meta = table_meta("counters")

    name = UnicodeAttribute(hash_key=True)
    issued = NumberAttribute(default=0)
    length = NumberAttribute(default=0)
    last_enqueued_at = NumberAttribute(null=True)  # epoch seconds of the last ticket issued
    ref = UnicodeAttribute(null=True)  # what a claim points at (e.g. the open session id)
