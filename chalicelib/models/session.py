"""Conversations. PK session_id.

- ``by_visitor`` / ``by_agent``: a participant's sessions, newest last.
- ``queue``: sparse; ``queue_pool`` exists only while the session waits for an agent, and
  ``queue_ticket`` (a counter value) orders the queue first come, first served.
- ``by_status``: admin listings by status.
- ``by_day``: time-keyed, so reports read one day's sessions and nothing else.

``version`` grows by one (``ADD``) in the very write that changes the session's state (created,
assigned, transferred, handed back, ended, rated) and never otherwise; every session frame carries
the version of the state it describes, so a client can drop one that arrives after a newer one
(docs/protocol.md). A writer that must know the version it produced conditions its write on the
version it read (``at_version``).
"""

from __future__ import annotations

from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.errors import NotFound
from chalicelib.models.base import KefuModel, table_meta

QUEUE_POOL = "waiting"
OPEN_STATUSES = ("queued", "active")


class SessionsByVisitor(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_visitor"
        projection = AllProjection()

    visitor_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class SessionsByAgent(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_agent"
        projection = AllProjection()

    agent_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class SessionQueue(GlobalSecondaryIndex):
    class Meta:
        index_name = "queue"
        projection = AllProjection()

    queue_pool = UnicodeAttribute(hash_key=True)
    queue_ticket = NumberAttribute(range_key=True)


class SessionsByStatus(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class SessionsByDay(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_day"
        projection = AllProjection()

    created_day = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class SessionModel(KefuModel):
    """One conversation between a visitor and (once assigned) an agent."""

    Meta = table_meta("sessions")

    session_id = UnicodeAttribute(hash_key=True)
    visitor_id = UnicodeAttribute()
    visitor_name = UnicodeAttribute(null=True)
    agent_id = UnicodeAttribute(null=True)
    agent_name = UnicodeAttribute(null=True)
    status = UnicodeAttribute()  # "queued" | "active" | "ended" | "abandoned"
    topic = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    created_day = UnicodeAttribute()
    queue_pool = UnicodeAttribute(null=True)
    queue_ticket = NumberAttribute(null=True)
    queued_at = UnicodeAttribute(null=True)
    assigned_at = UnicodeAttribute(null=True)
    ended_at = UnicodeAttribute(null=True)
    ended_by = UnicodeAttribute(null=True)
    end_reason = UnicodeAttribute(null=True)
    rating = NumberAttribute(null=True)
    rating_comment = UnicodeAttribute(null=True)
    message_count = NumberAttribute(default=0)
    last_message_at = UnicodeAttribute(null=True)
    first_response_at = UnicodeAttribute(null=True)
    visitor_read_up_to = UnicodeAttribute(null=True)
    agent_read_up_to = UnicodeAttribute(null=True)
    transfer_count = NumberAttribute(default=0)
    visitor_left_at = NumberAttribute(null=True)  # epoch seconds the visitor's last socket closed
    # The visitor's open sockets while the session is open: position notices post straight to
    # them, so announcing a queue move costs one queue Query whatever the number of waiters.
    visitor_sockets = UnicodeSetAttribute(null=True)
    version = NumberAttribute(null=True)  # see the module docstring; absent on sessions older than it
    # #19 (h/wback) writes it; the customer panel reads it. Same line as there.
    context = MapAttribute(null=True)  # page url, title, referrer, language, timezone, user_agent

    by_visitor = SessionsByVisitor()
    by_agent = SessionsByAgent()
    queue = SessionQueue()
    by_status = SessionsByStatus()
    by_day = SessionsByDay()

    @classmethod
    def fetch(cls, session_id: str) -> SessionModel:
        """The session as stored now (strongly consistent); ``NotFound`` when there is none."""
        try:
            return cls.get(session_id, consistent_read=True)
        except DoesNotExist as e:
            raise NotFound(f"no session {session_id}") from e

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def state_version(self) -> int:
        """The version of the state this item shows (0: stored before versions existed)."""
        return int(self.version or 0)

    def at_version(self):
        """Condition: the stored session is still at the version this item was read with."""
        if self.version is None:
            return SessionModel.version.does_not_exist()
        return SessionModel.version == self.version

    def advanced(self) -> None:
        """After a write conditioned on ``at_version`` that included ``next_version()``: this item
        now carries the version that write produced."""
        self.version = self.state_version + 1

    def to_public(self) -> dict:
        return {
            "session_id": self.session_id,
            "visitor": {"id": self.visitor_id, "name": self.visitor_name},
            "agent": {"id": self.agent_id, "name": self.agent_name} if self.agent_id else None,
            "status": self.status,
            "topic": self.topic,
            "created_at": self.created_at,
            "queued_at": self.queued_at,
            "assigned_at": self.assigned_at,
            "ended_at": self.ended_at,
            "ended_by": self.ended_by,
            "end_reason": self.end_reason,
            "rating": int(self.rating) if self.rating is not None else None,
            "rating_comment": self.rating_comment,
            "message_count": int(self.message_count or 0),
            "last_message_at": self.last_message_at,
            "first_response_at": self.first_response_at,
            "transfer_count": int(self.transfer_count or 0),
            "version": self.state_version,
        }


def next_version():
    """The action every change of a session's state includes: one version further."""
    return SessionModel.version.add(1)
