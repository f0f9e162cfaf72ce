"""Periods: the days a request asks for, parsed and bounded, as ``[start, end)`` in a time zone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.errors import ValidationFailed

MAX_RANGE_DAYS = 31


def parse_day(text: str | None, name: str) -> date | None:
    if text in (None, ""):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as e:
        raise ValidationFailed(f"{name} must be a date YYYY-MM-DD") from e


def zone_of(tz: str | None) -> str:
    tz = tz or "UTC"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValidationFailed(f"unknown time zone {tz!r}") from e
    return tz


def period(first: date, last: date, tz: str = "UTC") -> tuple[datetime, datetime]:
    """``[first 00:00, last + 1 day 00:00)`` in ``tz``; at most ``MAX_RANGE_DAYS`` days."""
    if last < first:
        raise ValidationFailed("to must not be before from")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise ValidationFailed(f"a range covers at most {MAX_RANGE_DAYS} days")
    zone = ZoneInfo(tz)
    return (datetime.combine(first, time(), zone), datetime.combine(last + timedelta(days=1), time(), zone))
