"""WebSocket connections. PK connection_id; ``by_user`` finds a user's sockets for fan-out;
``by_type`` lists who is online (operations). ``expires_at`` is the TTL: a socket lives at most 2 h
in API Gateway, and $disconnect may never arrive."""

from __future__ import annotations

from collections.abc import Iterator

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib import clock
from chalicelib.models.base import KefuModel, table_meta


class ConnectionsByUser(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    connected_at = UnicodeAttribute(range_key=True)


class ConnectionsByType(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_type"
        projection = AllProjection()

    user_type = UnicodeAttribute(hash_key=True)
    connected_at = UnicodeAttribute(range_key=True)


class ConnectionModel(KefuModel):
    """One open WebSocket of a visitor or an agent."""

    Meta = table_meta("connections", ttl_attribute="expires_at")

    connection_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    user_type = UnicodeAttribute()  # "visitor" | "agent"
    user_name = UnicodeAttribute(null=True)
    role = UnicodeAttribute(default="visitor")  # "visitor" | "agent" | "admin"
    connected_at = UnicodeAttribute()
    last_seen_at = NumberAttribute()  # epoch seconds of the last frame or ping
    source_ip = UnicodeAttribute(null=True)
    user_agent = UnicodeAttribute(null=True)
    expires_at = NumberAttribute()  # TTL, epoch seconds
    token_gen = NumberAttribute(default=0)  # the generation of the token the socket connected with

    by_user = ConnectionsByUser()
    by_type = ConnectionsByType()

    def is_live(self, heartbeat_window: float, at: float | None = None) -> bool:
        at = clock.epoch() if at is None else at
        return self.expires_at > at and self.last_seen_at >= at - heartbeat_window

    @classmethod
    def for_user(cls, user_id: str) -> Iterator[ConnectionModel]:
        """A user's connections that have not expired (TTL deletes late, so filter here)."""
        return cls.by_user.query(user_id, filter_condition=cls.expires_at > int(clock.epoch()))
