"""Agents. PK agent_id.

- ``by_username``: login looks an agent up by name.
- ``directory``: every agent under one constant key, so listings and the presence sweep Query
  instead of reading the whole table (agents number in the hundreds, not millions).
- ``available``: a sparse index of the agents that may take a customer right now (online, a live
  connection, a free slot). ``pool`` exists only while that holds; ``load_key`` orders them by load
  ratio, then by who was assigned least recently, so the first item is the best candidate. Both are
  written in the same transaction as ``active_count``, so the index never needs a sweep to be right.
"""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.models.base import KefuModel, table_meta

AVAILABLE_POOL = "available"
DIRECTORY = "agents"
NEVER = "0000-00-00T00:00:00.000Z"


class AgentsByUsername(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_username"
        projection = AllProjection()

    username = UnicodeAttribute(hash_key=True)


class AgentDirectory(GlobalSecondaryIndex):
    class Meta:
        index_name = "directory"
        projection = AllProjection()

    directory = UnicodeAttribute(hash_key=True)
    username = UnicodeAttribute(range_key=True)


class AvailableAgents(GlobalSecondaryIndex):
    class Meta:
        index_name = "available"
        projection = AllProjection()

    pool = UnicodeAttribute(hash_key=True)
    load_key = UnicodeAttribute(range_key=True)


def load_key(active: int, capacity: int, last_assigned_at: str | None, agent_id: str) -> str:
    """Sort key of the ``available`` index: load ratio in millionths, then last assignment time."""
    ratio = active * 1_000_000 // capacity if capacity > 0 else 1_000_000
    return f"{ratio:07d}#{last_assigned_at or NEVER}#{agent_id}"


class AgentModel(KefuModel):
    """A customer-service agent (role ``agent`` or ``admin``) and their live assignment counters."""

    Meta = table_meta("agents")

    agent_id = UnicodeAttribute(hash_key=True)
    username = UnicodeAttribute()
    directory = UnicodeAttribute(default=DIRECTORY)
    password_hash = UnicodeAttribute()
    display_name = UnicodeAttribute()
    role = UnicodeAttribute(default="agent")  # "agent" | "admin"
    status = UnicodeAttribute(default="offline")  # "online" | "away" | "offline"
    max_concurrent = NumberAttribute(default=5)
    active_count = NumberAttribute(default=0)
    # The customers counted in active_count, written in the same transactions: unlike the lagging
    # by_agent index of assignments, a consistent read of the agent lists every one of them.
    customer_ids = UnicodeSetAttribute(null=True)
    last_assigned_at = UnicodeAttribute(null=True)
    heartbeat_at = NumberAttribute(default=0)  # epoch seconds of the last frame on any socket
    disconnected_at = NumberAttribute(null=True)  # set when the last socket closed
    socket_ids = UnicodeSetAttribute(null=True)  # open sockets, read consistently by $disconnect
    offline_reason = UnicodeAttribute(null=True)  # "inactive" when the sweep set them offline
    pool = UnicodeAttribute(null=True)
    load_key = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
    disabled = BooleanAttribute(null=True)  # a disabled agent cannot log in and holds no valid token
    token_gen = NumberAttribute(default=0)  # tokens carrying an older generation are revoked

    by_username = AgentsByUsername()
    in_directory = AgentDirectory()
    available = AvailableAgents()

    def to_public(self) -> dict:
        return {
            "agent_id": self.agent_id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "status": self.status,
            "max_concurrent": int(self.max_concurrent),
            "active": int(self.active_count),
            "last_assigned_at": self.last_assigned_at,
            "created_at": self.created_at,
            "disabled": bool(self.disabled),
        }
