"""Rate-limit logs (PK ``key``, e.g. ``msg#<user_id>``, ``login-ip#<ip>``): the times of the
events accepted in the current window, so a limit holds over *any* interval of its length (a
sliding log, not a fixed window). ``version`` makes every write conditional on what was read, so
two events racing for the last slot cannot both take it. ``expires_at`` (TTL) drops idle logs."""

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.models.base import KefuModel, table_meta


class LimitModel(KefuModel):
    """One rate-limited subject: its recent event times and an optimistic-lock version."""

    Meta = table_meta("limits", ttl_attribute="expires_at")

    key = UnicodeAttribute(hash_key=True)
    stamps = ListAttribute(of=NumberAttribute, default=list)
    version = NumberAttribute(default=0)
    expires_at = NumberAttribute(default=0)
