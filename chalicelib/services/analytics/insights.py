"""Insights: the last ``days`` complete days against the ``days`` before them, and findings in
plain language, each with the figures it rests on.

A finding is made only when the data can carry it (docs/analytics.md, "Insight thresholds"):
both periods have at least ``MIN_SESSIONS`` sessions, a duration or CSAT at least ``MIN_SAMPLES``
measurements in each, and the change is at least ``MIN_CHANGE_PCT`` percent; the same holds for
the queue wait of each part of the day (night, morning, afternoon, evening, UTC hours). Agents are compared
when they have at least ``MIN_AGENT_SAMPLES`` measurements in each period.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from chalicelib import clock
from chalicelib.errors import ValidationFailed
from chalicelib.services.analytics.periods import MAX_RANGE_DAYS
from chalicelib.services.analytics.statistics import statistics

MIN_SESSIONS = 20
MIN_SAMPLES = 10
MIN_CHANGE_PCT = 10.0
MIN_AGENT_SAMPLES = 5
TOP_AGENTS = 3
TOP_HOURS = 3
PARTS_OF_DAY = {"night": range(0, 6), "morning": range(6, 12), "afternoon": range(12, 18),
                "evening": range(18, 24)}

# name -> (label, how to read it from a figures block, samples behind it, higher is better)
FIGURES = {
    "volume": ("Sessions", lambda o: o["sessions_started"], lambda o: o["sessions_started"], None),
    "queue_wait": ("Average queue wait", lambda o: o["queue_wait_s"]["avg"],
                   lambda o: o["queue_wait_s"]["count"], False),
    "first_response": ("Average first response", lambda o: o["first_response_s"]["avg"],
                       lambda o: o["first_response_s"]["count"], False),
    "resolution": ("Average resolution time", lambda o: o["resolution_s"]["avg"],
                   lambda o: o["resolution_s"]["count"], False),
    "csat": ("CSAT", lambda o: o["csat"]["average"], lambda o: o["csat"]["count"], True),
    "abandonment": ("Abandonment rate",
                    lambda o: round(o["sessions_abandoned"] / o["sessions_started"], 4)
                    if o["sessions_started"] else None,
                    lambda o: o["sessions_started"], False),
}


def change_pct(current: float | None, previous: float | None) -> float | None:
    if current is None or previous in (None, 0):
        return None
    return round((current - previous) / previous * 100, 1)


def _comparison(now: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, (_, read, samples, _) in FIGURES.items():
        out[name] = {"current": read(now), "previous": read(before),
                     "change_pct": change_pct(read(now), read(before)),
                     "samples": {"current": samples(now), "previous": samples(before)}}
    return out


def _findings(comparison: dict[str, Any], now: dict[str, Any], before: dict[str, Any]) -> list[dict[str, Any]]:
    if now["sessions_started"] < MIN_SESSIONS or before["sessions_started"] < MIN_SESSIONS:
        return []
    findings = []
    for name, (label, _, _, better_up) in FIGURES.items():
        c = comparison[name]
        enough = min(c["samples"]["current"], c["samples"]["previous"]) >= (
            MIN_SESSIONS if name in ("volume", "abandonment") else MIN_SAMPLES)
        if not enough or c["change_pct"] is None or abs(c["change_pct"]) < MIN_CHANGE_PCT:
            continue
        rose = c["change_pct"] > 0
        verdict = "" if better_up is None else (" (better)" if rose == better_up else " (worse)")
        findings.append({
            "metric": name,
            "text": f"{label} {'rose' if rose else 'fell'} {abs(c['change_pct']):g}% "
                    f"({c['previous']:g} to {c['current']:g}){verdict}",
            **c,
        })
    return findings


def _wait_by_part_of_day(figures: dict[str, Any]) -> dict[str, tuple[float | None, int]]:
    """Average queue wait and its number of measurements in each part of the day (UTC hours)."""
    out = {}
    for part, hours in PARTS_OF_DAY.items():
        n = sum(figures["hourly_queue_wait_count"][h] for h in hours)
        total = sum(figures["hourly_queue_wait_total_s"][h] for h in hours)
        out[part] = (round(total / n, 3) if n else None, n)
    return out


def _part_of_day_findings(now: dict[str, Any], before: dict[str, Any]) -> list[dict[str, Any]]:
    """Queue wait per part of the day, under the same thresholds as the whole period's."""
    if now["overall"]["sessions_started"] < MIN_SESSIONS or before["overall"]["sessions_started"] < MIN_SESSIONS:
        return []
    current, previous = _wait_by_part_of_day(now), _wait_by_part_of_day(before)
    findings = []
    for part, hours in PARTS_OF_DAY.items():
        (value, n), (old, m) = current[part], previous[part]
        pct = change_pct(value, old)
        if min(n, m) < MIN_SAMPLES or pct is None or abs(pct) < MIN_CHANGE_PCT:
            continue
        findings.append({
            "metric": f"queue_wait_{part}",
            "text": f"Queue wait {'rose' if pct > 0 else 'fell'} {abs(pct):g}% in the {part} "
                    f"({hours.start:02d}-{hours.stop:02d}h UTC, {old:g} to {value:g} s)",
            "current": value, "previous": old, "change_pct": pct,
            "samples": {"current": n, "previous": m},
        })
    return findings


def _agents_moved(now: list[dict[str, Any]], before: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    previous = {a["agent_id"]: a for a in before}
    moved: dict[str, list[dict[str, Any]]] = {"first_response": [], "csat": []}
    for agent in now:
        old = previous.get(agent["agent_id"])
        if old is None:
            continue
        for name in moved:
            _, read, samples, _ = FIGURES[name]
            if min(samples(agent), samples(old)) < MIN_AGENT_SAMPLES:
                continue
            pct = change_pct(read(agent), read(old))
            if pct is not None:
                moved[name].append({"agent_id": agent["agent_id"], "agent_name": agent["agent_name"],
                                    "current": read(agent), "previous": read(old), "change_pct": pct})
    return {name: sorted(rows, key=lambda r: (-abs(r["change_pct"]), r["agent_id"]))[:TOP_AGENTS]
            for name, rows in moved.items()}


def insights(days: int = 7) -> dict[str, Any]:
    """The last ``days`` complete UTC days against the ``days`` before them."""
    if not 1 <= days <= MAX_RANGE_DAYS:
        raise ValidationFailed(f"days must be between 1 and {MAX_RANGE_DAYS}")
    last = clock.now().date() - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    now = statistics(first, last, with_live=False)
    before = statistics(first - timedelta(days=days), first - timedelta(days=1),
                                          with_live=False)
    comparison = _comparison(now["overall"], before["overall"])
    hours = now["busiest_hours"]
    peak = sorted((h for h in range(24) if hours[h]), key=lambda h: (-hours[h], h))[:TOP_HOURS]
    return {
        "days": days,
        "current": {"from": now["from"], "to": now["to"]},
        "previous": {"from": before["from"], "to": before["to"]},
        "figures": comparison,
        "peak_hours": [{"hour": h, "sessions": hours[h]} for h in peak],
        "agents_moved": _agents_moved(now["per_agent"], before["per_agent"]),
        "findings": _findings(comparison, now["overall"], before["overall"]) + _part_of_day_findings(now, before),
        "thresholds": {"min_sessions": MIN_SESSIONS, "min_samples": MIN_SAMPLES,
                       "min_change_pct": MIN_CHANGE_PCT, "min_agent_samples": MIN_AGENT_SAMPLES},
    }
