"""The server's SVG chart of a period: volume and queue wait per hour."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

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
