"""Assignments: which agent serves which customer. PK customer_id (the visitor id), so
``attribute_not_exists`` makes "two agents for one customer" impossible.

- ``by_agent``: an agent's customers (reconciling counts; releasing an agent who left, with the
  agent item's ``customer_ids``, since the index lags).
- ``by_expiry``: time-keyed and sharded (``sweep_shard``) so the expiry sweep reads only what has
  expired, and the per-message refresh of ``expires_at`` does not heat one partition.
"""

from __future__ import annotations

import zlib

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.models.base import KefuModel, table_meta

SWEEP_SHARDS = 8


def sweep_shard_of(customer_id: str) -> str:
    return f"s{zlib.crc32(customer_id.encode()) % SWEEP_SHARDS}"


class AssignmentsByAgent(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_agent"
        projection = AllProjection()

    agent_id = UnicodeAttribute(hash_key=True)
    assigned_at = UnicodeAttribute(range_key=True)


class AssignmentsByExpiry(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_expiry"
        projection = AllProjection()

    sweep_shard = UnicodeAttribute(hash_key=True)
    expires_at = NumberAttribute(range_key=True)


class AssignmentModel(KefuModel):
    """Customer -> agent, while a session is active."""

    # No TTL: a TTL deletion would free nobody's slot and end no session; the expiry sweep
    # releases idle assignments (``by_expiry``) with the decrement and the notices.
    Meta = table_meta("assignments")

    customer_id = UnicodeAttribute(hash_key=True)
    agent_id = UnicodeAttribute()
    agent_name = UnicodeAttribute(null=True)
    session_id = UnicodeAttribute()
    assigned_at = UnicodeAttribute()
    expires_at = NumberAttribute()  # sweep key, epoch seconds; every message extends it
    sweep_shard = UnicodeAttribute()

    by_agent = AssignmentsByAgent()
    by_expiry = AssignmentsByExpiry()

    def to_public(self) -> dict:
        from chalicelib import clock

        return {
            "customer_id": self.customer_id,
            "agent": {"id": self.agent_id, "name": self.agent_name},
            "session_id": self.session_id,
            "assigned_at": self.assigned_at,
            "expires_at": clock.iso_from_epoch(self.expires_at),
        }
