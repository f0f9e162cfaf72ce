"""The stored daily reports (``ReportModel``, id ``daily#YYYY-MM-DD``).

A daily report covers one UTC day. Storing is a plain put on the day's id: generating again (the
scheduled job delivered twice, a retry, a backfill) replaces the report, never duplicates it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib import clock
from chalicelib.errors import NotFound, ValidationFailed
from chalicelib.models import ReportModel
from chalicelib.models.base import retrying
from chalicelib.observability import logger
from chalicelib.services.analytics import data, metrics
from chalicelib.services.analytics.periods import in_range, period
from chalicelib.services.analytics.statistics import name_agents

DAILY = "daily"
def report_id(day: date) -> str:
    return f"{DAILY}#{day.isoformat()}"


def _is_over(day: date) -> bool:
    return clock.now() >= datetime.combine(day + timedelta(days=1), time(), UTC)


def compute_report(day: date) -> dict[str, Any]:
    """The daily report of a UTC ``day`` (``partial`` while the day is still running)."""
    start, end = period(day, day)
    body = metrics.compute(data.load_period(start, end))
    name_agents(body["per_agent"])
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
