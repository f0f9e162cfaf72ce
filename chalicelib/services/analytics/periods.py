"""Periods: the days a request asks for, parsed and bounded, as ``[start, end)`` in a time zone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.errors import OutOfRange, ValidationFailed

MAX_RANGE_DAYS = 31
# Days whose start and end exist as datetimes in every time zone, a day before and after included
# (a period's end is the next midnight; reading the activity log starts a UTC day earlier):
# 0001-01-01 and 9999-12-31 overflow, and nothing kefu recorded is older than the epoch.
EARLIEST_DAY = date(1970, 1, 1)
LATEST_DAY = date(9998, 12, 31)


def in_range(day: date, name: str) -> date:
    """``day``, or ``OutOfRange`` (400) when it is outside the days figures can be computed for."""
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise OutOfRange(f"{name} must be between {EARLIEST_DAY.isoformat()} and {LATEST_DAY.isoformat()}")
    return day


def parse_day(text: str | None, name: str) -> date | None:
    if text in (None, ""):
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError as e:
        raise ValidationFailed(f"{name} must be a date YYYY-MM-DD") from e
    return in_range(day, name)


def zone_of(tz: str | None) -> str:
    tz = tz or "UTC"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValidationFailed(f"unknown time zone {tz!r}") from e
    return tz


def period(first: date, last: date, tz: str = "UTC") -> tuple[datetime, datetime]:
    """``[first 00:00, last + 1 day 00:00)`` in ``tz``; at most ``MAX_RANGE_DAYS`` days."""
    in_range(first, "from")
    in_range(last, "to")
    if last < first:
        raise ValidationFailed("to must not be before from")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise ValidationFailed(f"a range covers at most {MAX_RANGE_DAYS} days")
    zone = ZoneInfo(tz)
    return (datetime.combine(first, time(), zone), datetime.combine(last + timedelta(days=1), time(), zone))
