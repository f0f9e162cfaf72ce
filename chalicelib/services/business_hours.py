"""Business hours: a weekly schedule in an IANA time zone, asked "open at this moment?" and
"when does it open next?". Pure functions on the settings' ``business_hours`` document:

    {"timezone": "Asia/Shanghai", "weekly": {"mon": [["09:00", "18:00"]], ..., "sun": []}}

A day left out is closed; ``24:00`` closes at midnight. None (no schedule) is always open.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LOOK_AHEAD_DAYS = 8


def minutes_of(text: str) -> int:
    """``HH:MM`` as minutes after midnight (``24:00`` is 1440)."""
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _zone(hours: dict[str, Any]) -> Any:
    from zoneinfo import ZoneInfo  # lazy: only a schedule pays for the time zone database

    return ZoneInfo(hours["timezone"])


def _intervals(hours: dict[str, Any], day_index: int) -> list[tuple[int, int]]:
    return [(minutes_of(start), minutes_of(end)) for start, end in hours.get("weekly", {}).get(DAYS[day_index], [])]


def is_open(hours: dict[str, Any] | None, at: datetime) -> bool:
    """Whether the schedule is open at ``at`` (an aware datetime)."""
    if not hours:
        return True
    local = at.astimezone(_zone(hours))
    minute = local.hour * 60 + local.minute
    return any(start <= minute < end for start, end in _intervals(hours, local.weekday()))


def next_open(hours: dict[str, Any] | None, at: datetime) -> datetime | None:
    """The next moment the schedule opens after ``at`` (UTC), None when it is open now or never
    opens within a week."""
    if not hours or is_open(hours, at):
        return None
    zone = _zone(hours)
    local = at.astimezone(zone)
    for offset in range(LOOK_AHEAD_DAYS):
        day = (local + timedelta(days=offset)).date()
        for start, _end in sorted(_intervals(hours, day.weekday())):
            opening = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(minutes=start)
            if opening > local:
                return opening.astimezone(UTC)
    return None
