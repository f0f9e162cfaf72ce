"""Statistics over a range, and the stored daily reports (``ReportModel``, id ``daily#YYYY-MM-DD``).

A daily report covers one UTC day. Storing is a plain put on the day's id: generating again (the
scheduled job delivered twice, a retry, a backfill) replaces the report, never duplicates it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pynamodb.exceptions import DoesNotExist

from chalicelib import clock
from chalicelib.errors import NotFound, ValidationFailed
from chalicelib.models import AgentModel, ReportModel, SessionModel
from chalicelib.models.agent import DIRECTORY
from chalicelib.models.base import retrying
from chalicelib.observability import logger
from chalicelib.services import analytics_data, analytics_metrics, assignment

MAX_RANGE_DAYS = 31
DAILY = "daily"
# Days whose start and end exist as datetimes in every time zone, a day before and after included
# (a period's end is the next midnight; reading the activity log starts a UTC day earlier):
# 0001-01-01 and 9999-12-31 overflow, and nothing kefu recorded is older than the epoch.
EARLIEST_DAY = date(1970, 1, 1)
LATEST_DAY = date(9998, 12, 31)


def in_range(day: date, name: str) -> date:
    """``day``, or ``ValidationFailed`` when it is outside the days figures can be computed for."""
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise ValidationFailed(f"{name} must be between {EARLIEST_DAY.isoformat()} and {LATEST_DAY.isoformat()}")
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


def live() -> dict[str, int]:
    """Right now: customers waiting, sessions with an agent, agents online."""
    return {
        "queued": assignment.queue_length(),
        "active": SessionModel.by_status.count("active"),
        "agents_online": sum(1 for a in AgentModel.in_directory.query(DIRECTORY) if a.status == "online"),
    }


def statistics(first: date | None = None, last: date | None = None, tz: str | None = None,
               agent_id: str | None = None, with_live: bool = True) -> dict[str, Any]:
    """The figures of ``first``..``last`` (default: today in ``tz``), overall and per agent,
    plus the live counts."""
    tz = zone_of(tz)
    today = clock.now().astimezone(ZoneInfo(tz)).date()
    first = first or last or today
    last = last or first
    start, end = period(first, last, tz)
    body = analytics_metrics.compute(analytics_data.load_period(start, end), tz, agent_id)
    body["partial"] = clock.now() < end
    if with_live:
        body["live"] = live()
    return body


def report_id(day: date) -> str:
    return f"{DAILY}#{day.isoformat()}"


def _is_over(day: date) -> bool:
    return clock.now() >= datetime.combine(day + timedelta(days=1), time(), UTC)


def compute_report(day: date) -> dict[str, Any]:
    """The daily report of a UTC ``day`` (``partial`` while the day is still running)."""
    start, end = period(day, day)
    body = analytics_metrics.compute(analytics_data.load_period(start, end))
    body["date"] = day.isoformat()
    body["partial"] = not _is_over(day)
    return body


def generate_report(day: date) -> dict[str, Any]:
    """Compute ``day``'s report now and store it, replacing any earlier one."""
    body = compute_report(day)
    body["generated_at"] = clock.iso()
    report = ReportModel(report_id(day), kind=DAILY, period=day.isoformat(),
                         generated_at=body["generated_at"], body=body)
    retrying(report.save)
    logger.info("report stored", date=day.isoformat(), sessions=body["overall"]["sessions_started"])
    return body


def generate_reports(first: date, last: date,
                     progress: Callable[[int, int, date], None] | None = None) -> list[dict[str, Any]]:
    """Generate and store every day of ``first``..``last`` (a backfill); ``progress(done, total, day)``."""
    in_range(first, "from")
    in_range(last, "to")
    if last < first:
        raise ValidationFailed("to must not be before from")
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    reports = []
    for done, day in enumerate(days, start=1):
        reports.append(generate_report(day))
        if progress is not None:
            progress(done, len(days), day)
    return reports


def stored_report(day: date) -> dict[str, Any] | None:
    try:
        return ReportModel.get(report_id(day), consistent_read=True).body
    except DoesNotExist:
        return None


def get_report(day: date) -> dict[str, Any]:
    """The stored report; today's computed live (``partial``); ``NotFound`` for any other day
    without one (not generated yet, or not begun)."""
    stored = stored_report(day)
    if stored is not None:
        return stored
    today = clock.now().date()
    if day == today:
        return compute_report(day)
    raise NotFound(f"no report for {day.isoformat()}")


def report_day_for(delivered_at: datetime) -> date:
    """The day a daily run reports on: the UTC day before the one it runs in."""
    return delivered_at.astimezone(UTC).date() - timedelta(days=1)
