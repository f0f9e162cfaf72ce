"""Figures as CSV files: one table per file (``summary``: overall and per agent; ``hours``: 24
rows; ``days``: one row per day), columns in docs/analytics.md."""

from __future__ import annotations

from typing import Any

from chalicelib.csvtext import to_csv as to_csv_text
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
    ``days``: one row per day of the period. Empty cells mean "no data" (e.g. no wait measured).
    Text cells are made safe for spreadsheets (``csvtext``: a display name starting with ``=`` is
    not a formula)."""
    if table not in TABLES:
        raise ValidationFailed(f"table must be one of {TABLES}")
    if table == "summary":
        rows = [_row("overall", figures["overall"])] if "overall" in figures else []
        rows += [_row("agent", entry) for entry in figures["per_agent"]]
        return to_csv_text(SUMMARY_COLUMNS, ([row[c] for c in SUMMARY_COLUMNS] for row in rows))
    if table == "days":
        return to_csv_text(DAYS_COLUMNS, ([day.get(c) for c in DAYS_COLUMNS] for day in figures.get("days", [])))
    hours = zip(figures["busiest_hours"], figures["hourly_queue_wait_s"], strict=True)
    return to_csv_text(HOURS_COLUMNS, ([hour, count, wait] for hour, (count, wait) in enumerate(hours)))
