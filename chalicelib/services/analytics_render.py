"""Figures as files: CSV (one table per file, columns in docs/analytics.md) and an SVG chart of
volume and queue wait per hour."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

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
TABLES = ("summary", "hours")


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
    """``summary``: one row ``overall`` (when present) and one per agent; ``hours``: 24 rows.
    Empty cells mean "no data" (e.g. no wait measured). Text cells are made safe for spreadsheets
    (``csvtext``: a display name starting with ``=`` is not a formula)."""
    if table not in TABLES:
        raise ValidationFailed(f"table must be one of {TABLES}")
    if table == "summary":
        rows = ([_row("overall", figures["overall"])] if "overall" in figures else [])
        rows += [_row("agent", entry) for entry in figures["per_agent"]]
        return to_csv_text(SUMMARY_COLUMNS, ([row[c] for c in SUMMARY_COLUMNS] for row in rows))
    hours = zip(figures["busiest_hours"], figures["hourly_queue_wait_s"], strict=True)
    return to_csv_text(HOURS_COLUMNS, ([hour, count, wait] for hour, (count, wait) in enumerate(hours)))


WIDTH, HEIGHT, MARGIN = 760, 300, 50


def to_svg(figures: dict[str, Any]) -> str:
    """Bars: sessions started per hour; line: average queue wait per hour (right axis)."""
    counts, waits = figures["busiest_hours"], figures["hourly_queue_wait_s"]
    plot_w, plot_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN
    top_count = max(counts) or 1
    top_wait = max((w for w in waits if w is not None), default=0) or 1
    slot = plot_w / 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
        f"<title>Sessions and queue wait per hour, {escape(figures['from'])} to "
        f"{escape(figures['to'])} ({escape(figures['tz'])})</title>",
        f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - MARGIN}" y2="{HEIGHT - MARGIN}" stroke="#333"/>',
        f'<text x="{MARGIN}" y="{MARGIN - 20}">sessions (bars, max {top_count})</text>',
        f'<text x="{WIDTH - MARGIN}" y="{MARGIN - 20}" text-anchor="end" fill="#c0392b">'
        f"avg queue wait s (line, max {top_wait:g})</text>",
    ]
    points = []
    for hour in range(24):
        x = MARGIN + hour * slot
        h = plot_h * counts[hour] / top_count
        parts.append(f'<rect class="sessions" data-hour="{hour}" data-sessions="{counts[hour]}" '
                     f'x="{x + 2:.1f}" y="{HEIGHT - MARGIN - h:.1f}" width="{slot - 4:.1f}" '
                     f'height="{h:.1f}" fill="#2e86c1"/>')
        if hour % 3 == 0:
            parts.append(f'<text x="{x + slot / 2:.1f}" y="{HEIGHT - MARGIN + 15}" '
                         f'text-anchor="middle">{hour:02d}h</text>')
        if waits[hour] is not None:
            y = HEIGHT - MARGIN - plot_h * waits[hour] / top_wait
            points.append(f"{x + slot / 2:.1f},{y:.1f}")
            parts.append(f'<circle class="wait" data-hour="{hour}" data-wait="{waits[hour]}" '
                         f'cx="{x + slot / 2:.1f}" cy="{y:.1f}" r="3" fill="#c0392b"/>')
    if points:
        parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#c0392b" stroke-width="2"/>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
