"""Per-minute WebSocket counters. PK ``bucket`` = ``{epoch minute}#{shard}``.

Every event is one ``UpdateItem`` with ``ADD`` on the current minute's item, so counts from every
Lambda container add up without a lost increment. The minute is split over a few shards (chosen at
random per write) so a busy minute stays below one item's write rate; a reader gets the last hour
with one ``BatchGetItem`` per 100 keys. Items expire (TTL) two hours after their minute.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib.models.base import KefuModel, table_meta

COUNTERS = ("connects", "disconnects", "frames_received", "messages_pushed", "gone_cleanups",
            "push_failures")


def bucket_key(minute: int, shard: int) -> str:
    return f"{minute}#{shard}"


class WsStatsModel(KefuModel):
    """One shard of one minute's WebSocket counts."""

    Meta = table_meta("ws_stats", ttl_attribute="expires_at")

    bucket = UnicodeAttribute(hash_key=True)
    connects = NumberAttribute(default=0)
    disconnects = NumberAttribute(default=0)
    frames_received = NumberAttribute(default=0)
    messages_pushed = NumberAttribute(default=0)
    gone_cleanups = NumberAttribute(default=0)
    push_failures = NumberAttribute(default=0)
    expires_at = NumberAttribute()  # TTL, epoch seconds
