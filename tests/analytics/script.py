"""A scripted set of days of conversations, played through the public services at exact times,
and the figures it must produce, computed here from the script alone.

Agents never send heartbeats, so nobody is auto-assigned: every assignment is an agent accepting
at a scripted moment (``accept_session``), and waits are exactly what the script says. A transfer
heartbeats its target first (a transfer needs a live agent); the queue is empty then and the next
arrival comes minutes later, past the heartbeat window, so that never assigns anyone else.
Conversations start 35 minutes apart and last under 12, so at most one customer waits at a time
and the abandonment sweep only ever finds the one the script means.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

AGENTS = ("ann", "bob", "cy")
# agent -> [(HH:MM, status)] each scripted day
STATUS_PLAN = {
    "ann": [("08:00", "online"), ("18:00", "offline")],
    "bob": [("08:00", "online"), ("12:30", "away"), ("13:30", "online"), ("17:00", "offline")],
    "cy": [("10:00", "online"), ("16:00", "offline")],
}


@dataclass
class Conversation:
    start: datetime
    kind: str  # "agent_ends" | "visitor_ends" | "transfer" | "leaves_queue" | "abandoned"
    accept_after: int | None = None
    agent: str | None = None
    transfer_at: int | None = None  # seconds after start
    transfer_to: str | None = None
    end_after: int | None = None
    rating: int | None = None
    messages: list[tuple[int, str, str]] = field(default_factory=list)  # (seconds, sender type, who)

    def holdings(self) -> list[tuple[str, int, int]]:
        """(agent, from, to) in seconds after start."""
        if self.accept_after is None:
            return []
        if self.transfer_at is None:
            return [(self.agent, self.accept_after, self.end_after)]
        return [(self.agent, self.accept_after, self.transfer_at),
                (self.transfer_to, self.transfer_at, self.end_after)]

    def holder_at(self, offset: int) -> str | None:
        for agent, start, end in self.holdings():
            if start <= offset < end:
                return agent
        return None


def at(day: date, hhmm: str, seconds: int = 0) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return datetime.combine(day, time(hours, minutes), UTC) + timedelta(seconds=seconds)


def status_at(agent: str, moment: datetime) -> str:
    status = "offline"
    for hhmm, new in STATUS_PLAN[agent]:
        if at(moment.date(), hhmm) <= moment:
            status = new
    return status


KINDS = ("agent_ends", "transfer", "leaves_queue", "visitor_ends", "abandoned", "agent_ends")


def day_script(day: date, slot_minutes: int, wait_bonus: int, count: int) -> list[Conversation]:
    """``count`` conversations from 08:20, ``slot_minutes`` apart; ``wait_bonus`` lengthens waits."""
    script = []
    for i in range(count):
        start = at(day, "08:20") + timedelta(minutes=i * slot_minutes, seconds=(i * 37) % 60)
        kind = KINDS[i % len(KINDS)]
        c = Conversation(start=start, kind=kind)
        c.messages.append((5, "visitor", "visitor"))
        if kind == "leaves_queue":
            c.end_after = 90
        elif kind == "abandoned":
            c.end_after = 150
        else:
            c.accept_after = 20 + (i * 13) % 150 + wait_bonus
            staff = [a for a in AGENTS if status_at(a, start + timedelta(seconds=c.accept_after)) != "offline"]
            c.agent = staff[i % len(staff)]
            a = c.accept_after
            c.messages += [(a + 10 + i % 30, "agent", c.agent), (a + 60, "visitor", "visitor"),
                           (a + 90, "agent", c.agent)]
            c.end_after = a + 240 + (i % 5) * 30
            if kind == "transfer":
                c.transfer_at = a + 120
                moment = start + timedelta(seconds=c.transfer_at)
                others = [x for x in AGENTS if x != c.agent and status_at(x, moment) == "online"]
                c.transfer_to = others[i % len(others)]
                c.messages += [(a + 150, "agent", c.transfer_to), (a + 170, "visitor", "visitor")]
            c.rating = {"agent_ends": 5 - (i % 3), "transfer": 3, "visitor_ends": None}[kind]
        c.messages.sort()
        script.append(c)
    return script


# --- the figures the script must produce -------------------------------------------------------------


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"avg": None, "median": None, "p90": None, "count": 0}
    s = sorted(values)
    return {"count": len(s), "avg": round(sum(s) / len(s), 3), "median": round(statistics.median(s), 3),
            "p90": round(s[math.ceil(len(s) * 0.9) - 1], 3)}


def csat(ratings: list[int]) -> dict[str, Any]:
    n = Counter(ratings)
    return {"average": round(sum(ratings) / len(ratings), 3) if ratings else None, "count": len(ratings),
            "distribution": {str(k): n.get(k, 0) for k in range(1, 6)}}


END_REASON = {"agent_ends": "ended_by_agent", "transfer": "ended_by_visitor", "visitor_ends": "ended_by_visitor"}


def _figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    reasons = Counter(r["reason"] for r in rows if r["ended"])
    return {
        "sessions_started": sum(r["started"] for r in rows),
        "sessions_assigned": sum(r["assigned"] for r in rows),
        "sessions_ended": sum(r["ended"] for r in rows),
        "sessions_ended_by_reason": dict(sorted(reasons.items())),
        "sessions_abandoned": sum(r["abandoned"] for r in rows),
        "messages_visitor": sum(r["mv"] for r in rows),
        "messages_agent": sum(r["ma"] for r in rows),
        "transfers": sum(r["transfers"] for r in rows),
        "queue_wait_s": summary([r["wait"] for r in rows if r["wait"] is not None]),
        "first_response_s": summary([r["frt"] for r in rows if r["frt"] is not None]),
        "resolution_s": summary([r["resolution"] for r in rows if r["resolution"] is not None]),
        "csat": csat([r["rating"] for r in rows if r["rating"] is not None]),
    }


def _blank() -> dict[str, Any]:
    return {"started": 0, "assigned": 0, "ended": 0, "abandoned": 0, "reason": None, "mv": 0, "ma": 0,
            "transfers": 0, "wait": None, "frt": None, "resolution": None, "rating": None}


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        elif e > s:
            out.append((s, e))
    return out


def _online(agent: str, days: set[date], start: datetime, end: datetime) -> list[tuple[float, float]]:
    """When ``agent`` was online within ``[start, end)``: the status plan, on the scripted days."""
    spans = []
    for day in sorted(days):
        plan = STATUS_PLAN[agent]
        for (hhmm, status), nxt in zip(plan, [*plan[1:], None], strict=True):
            if status == "online" and nxt is not None:
                s, e = max(at(day, hhmm), start), min(at(day, nxt[0]), end)
                if e > s:
                    spans.append((s.timestamp(), e.timestamp()))
    return spans


def expected(script: list[Conversation], names: dict[str, str], first: date, last: date,
             tz: str = "UTC") -> dict[str, Any]:
    """What statistics of ``first``..``last`` (days in ``tz``) must answer for ``script``."""
    zone = ZoneInfo(tz)
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)
    convs = [c for c in script if start <= c.start < end]
    overall, per_agent = [], defaultdict(list)
    busy: dict[str, list[tuple[float, float]]] = defaultdict(list)
    hours = [0] * 24
    hour_waits: list[list[int]] = [[] for _ in range(24)]
    for c in convs:
        row = _blank()
        row.update(started=1, assigned=int(c.accept_after is not None),
                   abandoned=int(c.accept_after is None), mv=sum(1 for m in c.messages if m[1] == "visitor"),
                   ma=sum(1 for m in c.messages if m[1] == "agent"), transfers=int(c.transfer_at is not None),
                   wait=c.accept_after, rating=c.rating)
        visitor_first = min(m[0] for m in c.messages if m[1] == "visitor")
        reply = next((m for m in c.messages if m[1] == "agent" and m[0] > visitor_first), None)
        row["frt"] = reply[0] - visitor_first if reply else None
        if c.accept_after is not None:
            row.update(ended=1, reason=END_REASON[c.kind], resolution=c.end_after)
        overall.append(row)
        local = c.start.astimezone(zone).hour
        hours[local] += 1
        if c.accept_after is not None:
            hour_waits[local].append(c.accept_after)
        holdings = c.holdings()
        final = holdings[-1][0] if holdings else None
        for agent in {h[0] for h in holdings}:
            mine = _blank()
            mine["started"] = 1
            if agent == holdings[0][0]:
                mine.update(assigned=1, wait=c.accept_after)
            if agent == final:
                mine.update(ended=1, reason=END_REASON[c.kind], resolution=c.end_after, rating=c.rating)
            mine["mv"] = sum(1 for m in c.messages if m[1] == "visitor" and c.holder_at(m[0]) == agent)
            mine["ma"] = sum(1 for m in c.messages if m[1] == "agent" and m[2] == agent)
            mine["transfers"] = int(c.transfer_at is not None and agent == c.agent)
            if reply and reply[2] == agent:
                mine["frt"] = row["frt"]
            per_agent[agent].append(mine)
        for agent, s, e in holdings:
            busy[agent].append(((c.start + timedelta(seconds=s)).timestamp(),
                                (c.start + timedelta(seconds=e)).timestamp()))
    entries = []
    for agent in sorted(AGENTS, key=lambda a: names[a]):
        online = _merge(_online(agent, {c.start.date() for c in script}, start, end))
        if not per_agent[agent] and not online:
            continue
        busy_online = sum(max(0.0, min(e1, e2) - max(s1, s2))
                          for s1, e1 in _merge(busy[agent]) for s2, e2 in online)
        online_s = sum(e - s for s, e in online)
        entries.append({"agent_id": names[agent], "agent_name": agent,  # every agent by name
                        **_figures(per_agent[agent]), "online_s": round(online_s, 3),
                        "busy_s": round(busy_online, 3),
                        "utilisation": round(busy_online / online_s, 4) if online_s else None})
    return {
        "overall": _figures(overall),
        "per_agent": entries,
        "busiest_hours": hours,
        "hourly_queue_wait_s": [summary(w)["avg"] for w in hour_waits],
    }
