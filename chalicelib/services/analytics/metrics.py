"""The metrics, one definition each (docs/analytics.md), computed from a period's data.

Pure functions over ``data.PeriodData``: no reads, no clock, so the same data always
gives the same figures (a report re-run for a closed day replaces itself with the same numbers).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from chalicelib import clock
from chalicelib.models import ActivityModel, SessionModel
from chalicelib.services.analytics.data import PeriodData

Interval = tuple[float, float]


def summary(values: list[float]) -> dict[str, float | None]:
    """``{avg, median, p90, count}`` (p90 by nearest rank), seconds to the millisecond; None when
    there is no value."""
    if not values:
        return {"avg": None, "median": None, "p90": None, "count": 0}
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "avg": round(sum(ordered) / len(ordered), 3),
        "median": round(statistics.median(ordered), 3),
        "p90": round(ordered[math.ceil(0.9 * len(ordered)) - 1], 3),
    }


def csat(ratings: list[int]) -> dict[str, Any]:
    distribution = Counter(ratings)
    return {
        "average": round(sum(ratings) / len(ratings), 3) if ratings else None,
        "count": len(ratings),
        "distribution": {str(score): distribution.get(score, 0) for score in range(1, 6)},
    }


def _epoch(text: str) -> float:
    return clock.epoch_of(text)


class SessionFacts(msgspec.Struct):
    """What one session contributes: who held it when, and its measured durations."""

    session: SessionModel
    segments: list[tuple[str, float, float]]  # (agent_id, from, to) epoch seconds
    first_assigned: tuple[str, float] | None  # (agent_id, at)
    transfers_from: list[str]  # the agent each transfer came from
    first_response: tuple[str, float] | None  # (replying agent, seconds)
    visitor_message_times: list[float]
    agent_messages: Counter[str]

    @property
    def is_abandoned(self) -> bool:
        """Closed while waiting in the queue: nobody held it when it closed."""
        return self.session.status in ("ended", "abandoned") and not self.session.agent_id

    @property
    def is_ended(self) -> bool:
        """Closed while an agent held it."""
        return self.session.status in ("ended", "abandoned") and bool(self.session.agent_id)

    @property
    def closing_agent(self) -> str | None:
        return self.session.agent_id if self.is_ended else None

    @property
    def queue_wait(self) -> float | None:
        if self.first_assigned is None:
            return None
        queued = self.session.queued_at or self.session.created_at
        return max(0.0, self.first_assigned[1] - _epoch(queued))

    @property
    def resolution(self) -> float | None:
        if not self.is_ended or not self.session.ended_at:
            return None
        return max(0.0, _epoch(self.session.ended_at) - _epoch(self.session.created_at))

    def handled_by(self) -> set[str]:
        return {agent for agent, _, _ in self.segments}


def _segments(session: SessionModel, events: list[ActivityModel], horizon: float
              ) -> tuple[list[tuple[str, float, float]], tuple[str, float] | None, list[str]]:
    segments: list[tuple[str, float, float]] = []
    first: tuple[str, float] | None = None
    transfers_from: list[str] = []
    holder: tuple[str, float] | None = None
    for event in events:
        at = _epoch(event.at)
        if holder is not None and event.kind in ("assigned", "transferred", "released", "ended"):
            segments.append((holder[0], holder[1], at))
            holder = None
        if event.kind == "assigned" and event.agent_id:
            holder = (event.agent_id, at)
            first = first or holder
        elif event.kind == "transferred" and event.agent_id:
            transfers_from.append(event.other_agent_id or "")
            holder = (event.agent_id, at)
    if not events and session.agent_id and session.assigned_at:  # stored before the activity log
        holder = first = (session.agent_id, _epoch(session.assigned_at))
    if holder is not None:
        end = _epoch(session.ended_at) if session.ended_at else horizon
        segments.append((holder[0], holder[1], max(holder[1], end)))
    return segments, first, transfers_from


def session_facts(data: PeriodData) -> list[SessionFacts]:
    horizon = data.now.timestamp()
    facts = []
    for session in data.sessions:
        segments, first, transfers_from = _segments(session, data.session_events.get(session.session_id, []),
                                                    horizon)
        messages = sorted(data.messages.get(session.session_id, []), key=lambda m: m.message_id)
        first_visitor = next((m for m in messages if m.sender_type == "visitor"), None)
        reply = None
        if first_visitor is not None:
            reply = next((m for m in messages if m.sender_type == "agent"
                          and m.message_id > first_visitor.message_id), None)
        facts.append(SessionFacts(
            session=session,
            segments=segments,
            first_assigned=first,
            transfers_from=transfers_from,
            first_response=(reply.sender_id, max(0.0, _epoch(reply.created_at) - _epoch(first_visitor.created_at)))
            if reply is not None and first_visitor is not None else None,
            visitor_message_times=[_epoch(m.created_at) for m in messages if m.sender_type == "visitor"],
            agent_messages=Counter(m.sender_id for m in messages if m.sender_type == "agent"),
        ))
    return facts


# --- time online and busy -------------------------------------------------------------------------


def _union(intervals: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif end > start:
            merged.append((start, end))
    return merged


def _length(intervals: list[Interval]) -> float:
    return sum(end - start for start, end in intervals)


def _intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    out = []
    for a_start, a_end in a:
        for b_start, b_end in b:
            start, end = max(a_start, b_start), min(a_end, b_end)
            if end > start:
                out.append((start, end))
    return out


def online_intervals(status_events: list[ActivityModel], start: float, end: float) -> dict[str, list[Interval]]:
    """Per agent, when their status was ``online`` within ``[start, end)`` (status before the
    period: the last change seen the day before it began, else offline)."""
    since: dict[str, float | None] = {}
    intervals: dict[str, list[Interval]] = defaultdict(list)
    for event in status_events:
        agent, at = event.agent_id or "", max(start, _epoch(event.at))
        began = since.get(agent)
        if began is not None:
            intervals[agent].append((began, at))
        since[agent] = at if event.status == "online" else None
    for agent, began in since.items():
        if began is not None:
            intervals[agent].append((began, end))
        intervals.setdefault(agent, [])
    return {agent: _union(spans) for agent, spans in intervals.items()}


# --- the figures ------------------------------------------------------------------------------------


class _Tally(msgspec.Struct):
    started: int = 0
    assigned: int = 0
    ended: int = 0
    abandoned: int = 0
    ended_by_reason: Counter[str] = msgspec.field(default_factory=Counter)
    messages_visitor: int = 0
    messages_agent: int = 0
    transfers: int = 0
    waits: list[float] = msgspec.field(default_factory=list)
    first_responses: list[float] = msgspec.field(default_factory=list)
    resolutions: list[float] = msgspec.field(default_factory=list)
    ratings: list[int] = msgspec.field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        return {
            "sessions_started": self.started,
            "sessions_assigned": self.assigned,
            "sessions_ended": self.ended,
            "sessions_ended_by_reason": dict(sorted(self.ended_by_reason.items())),
            "sessions_abandoned": self.abandoned,
            "messages_visitor": self.messages_visitor,
            "messages_agent": self.messages_agent,
            "transfers": self.transfers,
            "queue_wait_s": summary(self.waits),
            "first_response_s": summary(self.first_responses),
            "resolution_s": summary(self.resolutions),
            "csat": csat(self.ratings),
        }


def _overall(facts: list[SessionFacts]) -> _Tally:
    tally = _Tally()
    for f in facts:
        s = f.session
        tally.started += 1
        tally.assigned += f.first_assigned is not None
        tally.abandoned += f.is_abandoned
        if f.is_ended:
            tally.ended += 1
            tally.ended_by_reason[s.end_reason or "ended"] += 1
        tally.messages_visitor += len(f.visitor_message_times)
        tally.messages_agent += sum(f.agent_messages.values())
        tally.transfers += int(s.transfer_count or 0)
        for value, bucket in ((f.queue_wait, tally.waits), (f.resolution, tally.resolutions)):
            if value is not None:
                bucket.append(value)
        if f.first_response is not None:
            tally.first_responses.append(f.first_response[1])
        if s.rating is not None:
            tally.ratings.append(int(s.rating))
    return tally


def _per_agent(facts: list[SessionFacts]) -> dict[str, _Tally]:
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    for f in facts:
        s = f.session
        for agent in f.handled_by():
            tallies[agent].started += 1
            if f.is_abandoned:
                tallies[agent].abandoned += 1
        if f.first_assigned is not None:
            tallies[f.first_assigned[0]].assigned += 1
            tallies[f.first_assigned[0]].waits.append(f.queue_wait or 0.0)
        closer = f.closing_agent
        if closer:
            tallies[closer].ended += 1
            tallies[closer].ended_by_reason[s.end_reason or "ended"] += 1
            if f.resolution is not None:
                tallies[closer].resolutions.append(f.resolution)
            if s.rating is not None:
                tallies[closer].ratings.append(int(s.rating))
        for agent, start, end in f.segments:
            tallies[agent].messages_visitor += sum(1 for t in f.visitor_message_times if start <= t < end)
        for agent, sent in f.agent_messages.items():
            tallies[agent].messages_agent += sent
        for agent in f.transfers_from:
            tallies[agent].transfers += 1
        if f.first_response is not None:
            tallies[f.first_response[0]].first_responses.append(f.first_response[1])
    return tallies


def _local_hour(text: str, zone: ZoneInfo) -> int:
    return clock.parse_iso(text).astimezone(zone).hour


def compute(data: PeriodData, tz: str = "UTC", agent_id: str | None = None) -> dict[str, Any]:
    """Every figure of the period: ``overall``, ``per_agent`` (one agent's only when ``agent_id``),
    ``days`` (one entry per day), ``busiest_hours`` and ``hourly_queue_wait_s`` / ``_count`` /
    ``_total_s`` (24 buckets each, hours in ``tz``)."""
    zone = ZoneInfo(tz)
    facts = session_facts(data)
    start, end = data.start.timestamp(), min(data.end, max(data.start, data.now)).timestamp()
    online = online_intervals(data.status_events, start, end)
    tallies = _per_agent(facts)
    busy: dict[str, list[Interval]] = defaultdict(list)
    for f in facts:
        for agent, seg_start, seg_end in f.segments:
            busy[agent].append((max(start, seg_start), min(end, seg_end)))
    names = {f.session.agent_id: f.session.agent_name for f in facts if f.session.agent_id}
    per_agent = []
    for agent in sorted(set(tallies) | {a for a, spans in online.items() if spans}):
        if agent_id is not None and agent != agent_id:
            continue
        online_s = _length(online.get(agent, []))
        busy_s = _length(_intersect(_union(busy.get(agent, [])), online.get(agent, [])))
        entry = {"agent_id": agent, "agent_name": names.get(agent), **tallies[agent].figures(),
                 "online_s": round(online_s, 3), "busy_s": round(busy_s, 3),
                 "utilisation": round(busy_s / online_s, 4) if online_s > 0 else None}
        per_agent.append(entry)
    return {
        "from": data.start.astimezone(zone).date().isoformat(),
        "to": (data.end.astimezone(zone) - timedelta(milliseconds=1)).date().isoformat(),
        "tz": tz,
        "overall": _overall(facts).figures(),
        "per_agent": per_agent,
        "days": _per_day(facts, data, zone),
        **_per_hour(facts, zone),
    }


def _per_day(facts: list[SessionFacts], data: PeriodData, zone: ZoneInfo) -> list[dict[str, Any]]:
    """One entry per local day of the period (days without sessions too): sessions started,
    median first response and resolution, CSAT average and count."""
    first = data.start.astimezone(zone).date()
    last = (data.end.astimezone(zone) - timedelta(milliseconds=1)).date()
    by_day: dict[str, list[SessionFacts]] = defaultdict(list)
    for f in facts:
        by_day[clock.parse_iso(f.session.created_at).astimezone(zone).date().isoformat()].append(f)
    days = []
    for n in range((last - first).days + 1):
        day = (first + timedelta(days=n)).isoformat()
        tally = _overall(by_day.get(day, []))
        days.append({"date": day, "sessions": tally.started,
                     "first_response_median_s": summary(tally.first_responses)["median"],
                     "resolution_median_s": summary(tally.resolutions)["median"],
                     "csat_average": csat(tally.ratings)["average"], "csat_count": len(tally.ratings)})
    return days


def _per_hour(facts: list[SessionFacts], zone: ZoneInfo) -> dict[str, list]:
    hours = [0] * 24
    hour_waits: list[list[float]] = [[] for _ in range(24)]
    for f in facts:
        hour = _local_hour(f.session.created_at, zone)
        hours[hour] += 1
        if f.queue_wait is not None:
            hour_waits[hour].append(f.queue_wait)
    return {
        "busiest_hours": hours,
        "hourly_queue_wait_s": [summary(w)["avg"] for w in hour_waits],
        "hourly_queue_wait_count": [len(w) for w in hour_waits],
        "hourly_queue_wait_total_s": [round(sum(w), 3) for w in hour_waits],
    }

