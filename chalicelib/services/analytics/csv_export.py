"""Figures as CSV files: one table per file (``summary``: overall and per agent; ``hours``: 24
rows; ``days``: one row per day), columns in docs/analytics.md."""

from __future__ import annotations

import csv
import io
from typing import Any

from chalicelib.errors import ValidationFailed

COUNT_COLUMNS = ("sessions_started", "sessions_assigned", "sessions_ended", "sessions_abandoned",
                 "messages_visitor", "messages_agent", "transfers")
DURATIONS = ("queue_wait_s", "first_response_s", "resolution_s")
SUMMARY_COLUMNS = (
    "scope", "agent_id", "agent_name", *COUNT_COLUMNS,
    *(f"{d}_{part}" for d in DURATIONS for part in ("avg", "median", "p90")),
    "csat_average", "csat_count", *(f"csat_{n}" for n in range(1, 6)),
    "online_s", "busy_s", "utilisation",
)
HOURS_COLUMNS = ("hour", "sessions", "queue_wait_avg_s")
DAYS_COLUMNS = ("date", "sessions", "first_response_median_s", "resolution_median_s", "csat_average", "csat_count")
TABLES = ("summary", "hours", "days")


def _row(scope: str, figures: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"scope": scope, "agent_id": figures.get("agent_id"),
                           "agent_name": figures.get("agent_name")}
    row.update({c: figures[c] for c in COUNT_COLUMNS})
    for d in DURATIONS:
        for part in ("avg", "median", "p90"):
            row[f"{d}_{part}"] = figures[d][part]
    row["csat_average"] = figures["csat"]["average"]
    row["csat_count"] = figures["csat"]["count"]
    for n in range(1, 6):
        row[f"csat_{n}"] = figures["csat"]["distribution"][str(n)]
    for c in ("online_s", "busy_s", "utilisation"):
        row[c] = figures.get(c)
    return row


def to_csv(figures: dict[str, Any], table: str = "summary") -> str:
    """``summary``: one row ``overall`` (when present) and one per agent; ``hours``: 24 rows;
    ``days``: one row per day of the period.
    Empty cells mean "no data" (e.g. no wait measured)."""
    if table not in TABLES:
        raise ValidationFailed(f"table must be one of {TABLES}")
    out = io.StringIO()
    if table == "summary":
        writer = csv.DictWriter(out, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        if "overall" in figures:
            writer.writerow(_row("overall", figures["overall"]))
        for entry in figures["per_agent"]:
            writer.writerow(_row("agent", entry))
    elif table == "days":
        writer = csv.DictWriter(out, fieldnames=DAYS_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for day in figures.get("days", []):
            writer.writerow(day)
    else:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HOURS_COLUMNS)
        for hour, (count, wait) in enumerate(zip(figures["busiest_hours"], figures["hourly_queue_wait_s"],
                                                 strict=True)):
            writer.writerow([hour, count, "" if wait is None else wait])
    return out.getvalue()
