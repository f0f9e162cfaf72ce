"""The activity log: what happened when, for analytics. Time-keyed and TTL'd (``expires_at``).

Sessions keep only their latest state (one agent, one ``assigned_at``); the log keeps the history
analytics needs and nothing else stores: which agent held which part of a transferred session,
agents' status changes (time online) and releases back to the queue.

- Session events (``assigned``, ``transferred``, ``released``, ``ended``): PK ``session#{day}#{shard}``
  where ``day`` is the day the *session was created* and ``shard`` a hash of the session id. A
  day's report reads exactly its sessions' events (``SESSION_SHARDS`` Queries), however many other
  days are stored, and every event of one session sits in one partition, in time order. Spreading a
  day over shards keeps each partition far below DynamoDB's 1,000 writes/s.
- Agent status events (``status``): PK ``agents#{day}`` of the event itself. Status changes are
  rare (a few per agent per day), so one partition a day is enough.

SK ``{at}#{event id}``: ISO time first, so a Query returns a partition in time order.
"""

from __future__ import annotations

import zlib

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib.models.base import KefuModel, table_meta

SESSION_SHARDS = 8


def session_shard(session_id: str) -> int:
    """A stable shard for a session (crc32 of its id), so its events share one partition."""
    return zlib.crc32(session_id.encode()) % SESSION_SHARDS


def session_bucket(created_day: str, shard: int) -> str:
    return f"session#{created_day}#{shard}"


def session_buckets(created_day: str) -> list[str]:
    """Every partition holding events of the sessions created on ``created_day``."""
    return [session_bucket(created_day, shard) for shard in range(SESSION_SHARDS)]


def agents_bucket(day: str) -> str:
    return f"agents#{day}"


class ActivityModel(KefuModel):
    """One event. ``agent_id`` is who it concerns (the new agent of a transfer), ``other_agent_id``
    the agent a transfer came from; ``status`` an agent's new status; ``reason`` why a session ended."""

    Meta = table_meta("activity", ttl_attribute="expires_at")

    bucket = UnicodeAttribute(hash_key=True)
    event_key = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()  # "assigned" | "transferred" | "released" | "ended" | "status"
    at = UnicodeAttribute()
    session_id = UnicodeAttribute(null=True)
    agent_id = UnicodeAttribute(null=True)
    other_agent_id = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    expires_at = NumberAttribute()
