"""Named atomic counters (PK name), e.g. the queue's ticket and length counters."""

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib.models.base import KefuModel, table_meta

QUEUE_COUNTER = "queue"


class CounterModel(KefuModel):
    """A counter item; updated only with ``ADD`` so concurrent writers never lose an increment."""

    Meta = table_meta("counters")

    name = UnicodeAttribute(hash_key=True)
    issued = NumberAttribute(default=0)
    length = NumberAttribute(default=0)
