"""Reading one period's data for analytics, through time-keyed keys only (never a Scan).

A period is ``[start, end)``; what is read:
- its sessions: ``SessionModel.by_day`` for each UTC day it touches (filtered to the period);
- their messages: one Query per session (``session_id`` is the messages' partition key);
- their activity: ``session#{day}#{shard}`` partitions of those days;
- agents' status changes: ``agents#{day}`` from the day before the period (the status each agent
  had when it began) to its last day.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import msgspec

from chalicelib import clock
from chalicelib.models import ActivityModel, MessageModel, SessionModel
from chalicelib.models.activity import agents_bucket, session_buckets

READ_WORKERS = 8
MESSAGE_ATTRIBUTES = ["session_id", "message_id", "sender_type", "sender_id", "created_at", "internal"]


class PeriodData(msgspec.Struct):
    """Everything the metrics of ``[start, end)`` are computed from, as of ``now``."""

    start: datetime
    end: datetime
    now: datetime
    sessions: list[SessionModel] = msgspec.field(default_factory=list)
    messages: dict[str, list[MessageModel]] = msgspec.field(default_factory=dict)
    session_events: dict[str, list[ActivityModel]] = msgspec.field(default_factory=dict)
    status_events: list[ActivityModel] = msgspec.field(default_factory=list)


def utc_days(start: datetime, end: datetime) -> list[str]:
    """The UTC days (``YYYY-MM-DD``) that ``[start, end)`` touches."""
    first = start.astimezone(UTC).date()
    last = (end - timedelta(microseconds=1)).astimezone(UTC).date()
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def _sessions_of(days: list[str], start: str, end: str) -> Iterator[SessionModel]:
    for day in days:
        yield from SessionModel.by_day.query(day, SessionModel.created_at.between(start, end))


def _messages_of(session_id: str) -> list[MessageModel]:
    """What the customer and the agents said to each other: internal notes are not replies."""
    return [m for m in MessageModel.query(session_id, attributes_to_get=MESSAGE_ATTRIBUTES) if not m.is_note]


def _events_in(bucket: str) -> list[ActivityModel]:
    return list(ActivityModel.query(bucket))


def load_period(start: datetime, end: datetime, now: datetime | None = None) -> PeriodData:
    """Read the period's sessions, messages and activity (Queries run a few at a time)."""
    now = now or clock.now()
    data = PeriodData(start=start, end=end, now=now)
    days = utc_days(start, end)
    end_iso = clock.iso(end - timedelta(milliseconds=1))
    data.sessions = list(_sessions_of(days, clock.iso(start), end_iso))
    wanted = {s.session_id for s in data.sessions}
    buckets = [bucket for day in days for bucket in session_buckets(day)]
    day_before = (date.fromisoformat(days[0]) - timedelta(days=1)).isoformat()
    status_buckets = [agents_bucket(day) for day in [day_before, *days]]
    with ThreadPoolExecutor(max_workers=READ_WORKERS) as pool:
        messages = pool.map(_messages_of, [s.session_id for s in data.sessions])
        session_pages = pool.map(_events_in, buckets)
        status_pages = pool.map(_events_in, status_buckets)
        data.messages = dict(zip((s.session_id for s in data.sessions), messages, strict=True))
        by_session: dict[str, list[ActivityModel]] = defaultdict(list)
        for page in session_pages:
            for event in page:
                if event.session_id in wanted:
                    by_session[event.session_id].append(event)
        data.session_events = dict(by_session)
        data.status_events = [e for page in status_pages for e in page if e.at < clock.iso(end)]
    for events in data.session_events.values():
        events.sort(key=lambda e: e.event_key)
    data.status_events.sort(key=lambda e: e.event_key)
    return data
