"""The local scheduler reads EventBridge expressions as AWS does, runs every job the app declares,
and survives a failing job."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from chalice import Cron as ChaliceCron
from chalice import Rate as ChaliceRate

from devstack import Stack
from devstack.schedules import Cron, Job, Rate, Scheduler, discover_jobs, parse_expression


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("expression", "seconds"), [
    ("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(2 hours)", 7200), ("rate(1 day)", 86400),
    (ChaliceRate(10, unit=ChaliceRate.MINUTES), 600),
])
def test_rate_expressions(expression: Any, seconds: int) -> None:
    assert parse_expression(expression) == Rate(seconds)


@pytest.mark.parametrize(("expression", "after", "expected"), [
    ("cron(0 10 * * ? *)", "2024-03-01T09:59:30", "2024-03-01T10:00:00"),
    ("cron(0 10 * * ? *)", "2024-03-01T10:00:00", "2024-03-02T10:00:00"),
    ("cron(0/15 * * * ? *)", "2024-03-01T10:01:00", "2024-03-01T10:15:00"),
    ("cron(15,45 8-9 * * ? *)", "2024-03-01T09:50:00", "2024-03-02T08:15:00"),
    ("cron(0 18 ? * MON-FRI *)", "2024-03-01T19:00:00", "2024-03-04T18:00:00"),  # Fri -> Mon
    ("cron(0 0 ? * 1 *)", "2024-03-01T00:00:00", "2024-03-03T00:00:00"),  # 1 = Sunday
    ("cron(30 2 1 JAN,JUL ? *)", "2024-03-01T00:00:00", "2024-07-01T02:30:00"),
    ("cron(0 0 29 2 ? 2024-2030)", "2024-03-01T00:00:00", "2028-02-29T00:00:00"),
    (ChaliceCron(0, 12, "*", "*", "?", "*"), "2024-12-31T12:00:00", "2025-01-01T12:00:00"),
])
def test_cron_expressions_fire_at_the_next_matching_minute(expression: Any, after: str, expected: str) -> None:
    assert parse_expression(expression).next_after(at(after)) == at(expected)


@pytest.mark.parametrize("expression", ["rate(0 minutes)", "rate(1 second)", "cron(0 10 * * *)",
                                        "cron(0 10 L * ? *)", "cron(0 10 ? * 2#1 *)", "at(2024-01-01T00:00:00)"])
def test_unsupported_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ValueError):
        parse_expression(expression)


def test_a_failing_job_does_not_stop_the_scheduler() -> None:
    calls: list[dict[str, Any]] = []
    second_call = threading.Event()

    def flaky(event: dict[str, Any]) -> None:
        calls.append(event)
        if len(calls) == 1:
            raise RuntimeError("first run fails")
        second_call.set()

    scheduler = Scheduler([Job("flaky", "rate(1 second)", Rate(1), flaky, rule_name="r")], "us-east-1")
    scheduler.start()
    try:
        assert second_call.wait(timeout=5)
    finally:
        scheduler.stop()

    event = calls[0]
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/r"]


def test_every_schedule_of_the_app_is_discovered_and_runs(stack: Stack) -> None:
    from chalice.app import ScheduledEventConfig

    assert stack.app_module is not None
    declared = {s.name for s in stack.app_module.app.event_sources if isinstance(s, ScheduledEventConfig)}
    jobs = discover_jobs(stack.app_module, "kefu", "test", "us-east-1")
    assert {job.name for job in jobs} == declared
    assert all(isinstance(job.schedule, Rate | Cron) for job in jobs)

    scheduler = Scheduler(jobs, "us-east-1")
    for job in jobs:
        scheduler.run_now(job.name)  # raises if the job fails on an idle system
