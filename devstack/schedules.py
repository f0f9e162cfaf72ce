"""The app's scheduled functions, run on their EventBridge schedules in a background thread.

Jobs are discovered from ``app.event_sources`` (every ``@app.schedule`` / ``@bp.schedule``), so a new
job runs locally without touching devstack. Expressions follow EventBridge: ``rate(5 minutes)`` and
``cron(minutes hours day-of-month month day-of-week year)`` in UTC, with ``*``, ``?``, numbers,
lists, ranges, ``/`` steps and month/day names (not ``L``, ``W`` or ``#``). A failing job is logged
and tried again on its next tick, never stopping the thread; a job still running when its next
tick comes is skipped for that tick rather than overlapped.
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from devstack import iam
from devstack.lambda_runtime import LambdaContext, function_name, resolve_handler

log = logging.getLogger(__name__)

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$", re.IGNORECASE)
_CRON = re.compile(r"^cron\((.*)\)$", re.IGNORECASE)
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {name: i + 1 for i, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"))}
_DAYS = {name: i + 1 for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
_MAX_YEAR = 2199


@dataclass(frozen=True)
class Rate:
    """``rate(n unit)``: every ``seconds``, first one period after start (as EventBridge does)."""

    seconds: int

    def next_after(self, at: datetime) -> datetime:
        return at + timedelta(seconds=self.seconds)


def _parse_field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    def value(token: str) -> int:
        token = token.upper()
        if names and token in names:
            number = names[token]
        elif token.isdigit():
            number = int(token)
        else:
            raise ValueError(f"unsupported cron value {token!r} (L, W and # are not supported locally)")
        if not low <= number <= high:
            raise ValueError(f"{number} is outside {low}-{high}")
        return number

    values: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad step in {part!r}")
        if span in ("*", "?"):
            start, end = low, high
        elif "-" in span:
            first, _, last = span.partition("-")
            start, end = value(first), value(last)
        else:
            start = value(span)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """``cron(min hour dom month dow year)`` in UTC; day-of-week 1-7 is SUN-SAT, as in AWS."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None  # None: "?" (the day is chosen by day-of-week)
    months: frozenset[int]
    days_of_week: frozenset[int] | None  # None: "?"
    years: frozenset[int]

    @classmethod
    def parse(cls, body: str) -> Cron:
        fields = body.split()
        if len(fields) != 6:
            raise ValueError(f"cron needs 6 fields, got {len(fields)}: {body!r}")
        minute, hour, dom, month, dow, year = fields
        return cls(
            minutes=_parse_field(minute, 0, 59),
            hours=_parse_field(hour, 0, 23),
            days_of_month=None if dom == "?" else _parse_field(dom, 1, 31),
            months=_parse_field(month, 1, 12, _MONTHS),
            days_of_week=None if dow == "?" else _parse_field(dow, 1, 7, _DAYS),
            years=_parse_field(year, 1970, _MAX_YEAR),
        )

    def _day_matches(self, at: datetime) -> bool:
        aws_weekday = (at.weekday() + 1) % 7 + 1  # Python: Monday=0; AWS: Sunday=1
        if self.days_of_month is not None and at.day not in self.days_of_month:
            return False
        return self.days_of_week is None or aws_weekday in self.days_of_week

    def next_after(self, at: datetime) -> datetime:
        """The first matching minute strictly after ``at``."""
        t = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
        while t.year <= _MAX_YEAR:
            if t.year not in self.years:
                t = datetime(t.year + 1, 1, 1, tzinfo=t.tzinfo)
            elif t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        raise ValueError("the cron expression never fires again")


Schedule = Rate | Cron


def parse_expression(expression: Any) -> Schedule:
    """A schedule from a string or a Chalice ``Rate``/``Cron`` object (``to_string()``)."""
    text = expression if isinstance(expression, str) else expression.to_string()
    text = text.strip()
    rate = _RATE.match(text)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2).lower().rstrip("s")
        if value < 1:
            raise ValueError(f"rate must be positive: {text!r}")
        return Rate(value * _UNIT_SECONDS[unit])
    cron = _CRON.match(text)
    if cron:
        return Cron.parse(cron.group(1))
    raise ValueError(f"unsupported schedule expression: {text!r}")


def scheduled_event(rule_name: str, region: str, at: datetime) -> dict[str, Any]:
    """The event EventBridge delivers to a scheduled function."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:123456789012:rule/{rule_name}"],
        "detail": {},
    }


@dataclass
class Job:
    """One scheduled function: ``run(event)`` invokes it as Lambda would."""

    name: str
    expression: str
    schedule: Schedule
    run: Callable[[dict[str, Any]], Any]
    rule_name: str


def discover_jobs(app_module: Any, app_name: str, stage: str, region: str) -> list[Job]:
    """One job per ``ScheduledEventConfig`` of the app, invoked with a Lambda-like context."""
    from chalice.app import ScheduledEventConfig

    jobs = []
    for source in app_module.app.event_sources:
        if not isinstance(source, ScheduledEventConfig):
            continue
        expression = source.schedule_expression
        text = expression if isinstance(expression, str) else expression.to_string()
        try:
            schedule = parse_expression(expression)
        except ValueError:
            # One odd expression should not keep the rest of the local stack from starting.
            log.exception("schedule %s (%s) cannot run locally: skipped", source.name, text)
            continue
        handler = resolve_handler(app_module, source.name, source.handler_string)
        name = function_name(app_name, stage, source.name)

        def run(event: dict[str, Any], handler: Any = handler, name: str = name,
                handler_string: str = source.handler_string) -> Any:
            with iam.acting_as(handler_string):
                return handler(event, LambdaContext(name, region))

        jobs.append(Job(source.name, text, schedule, run, rule_name=f"{name}-event"))
    return jobs


class Scheduler:
    """Fires due jobs from a background thread; ``run_now`` fires one at once (tests, debugging)."""

    def __init__(self, jobs: list[Job], region: str, clock: Callable[[], datetime] | None = None) -> None:
        self.jobs = {job.name: job for job in jobs}
        self._region = region
        self._now = clock or (lambda: datetime.now(UTC))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="devstack-job")
        self._running: dict[str, concurrent.futures.Future[Any]] = {}

    def start(self) -> None:
        if not self.jobs:
            return
        self._thread = threading.Thread(target=self._loop, name="devstack-schedules", daemon=True)
        self._thread.start()
        for job in self.jobs.values():
            log.info("schedule %s: %s", job.name, job.expression)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def run_now(self, name: str) -> Any:
        """Invoke a job synchronously in the caller's thread; its errors propagate."""
        job = self.jobs[name]
        return job.run(scheduled_event(job.rule_name, self._region, self._now()))

    def _loop(self) -> None:
        started = self._now()
        due = {name: job.schedule.next_after(started) for name, job in self.jobs.items()}
        while not self._stop.is_set():
            now = self._now()
            for name, at in list(due.items()):
                if at <= now:
                    self._fire(self.jobs[name], at)
                    due[name] = self.jobs[name].schedule.next_after(max(at, now))
            wait = min(due.values()) - self._now()
            self._stop.wait(timeout=min(max(wait.total_seconds(), 0.05), 30.0))

    def _fire(self, job: Job, at: datetime) -> None:
        running = self._running.get(job.name)
        if running is not None and not running.done():
            log.warning("job %s still running: skipping the %s tick", job.name, at.isoformat())
            return
        event = scheduled_event(job.rule_name, self._region, at)
        self._running[job.name] = self._pool.submit(self._invoke, job, event)

    @staticmethod
    def _invoke(job: Job, event: dict[str, Any]) -> None:
        started = time.perf_counter()
        try:
            job.run(event)
        except Exception:
            log.exception("job %s failed", job.name)
            return
        log.info("job %s done in %.0f ms", job.name, (time.perf_counter() - started) * 1000)
