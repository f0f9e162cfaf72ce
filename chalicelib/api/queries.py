"""The query parameters of each route (Pydantic), for the OpenAPI document.

Views read them with ``query_params`` / ``int_param`` (so that a GET never imports Pydantic);
``tests/api/test_openapi.py`` checks that each view reads exactly the parameters its model names.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from chalicelib.api import analytics, kefu, sessions
from chalicelib.services import inbox, operations, paging, performance
from chalicelib.services.analytics import csv_export, periods

DAY = r"^\d{4}-\d{2}-\d{2}$"


def one_of(values: tuple[Any, ...]) -> Any:
    """``Literal[...]`` of a constant the view checks against, so the two cannot differ."""
    return Literal.__getitem__(tuple(values))


class Query(BaseModel):
    pass


class SessionsQuery(Query):
    status: one_of(sessions.STATUSES) | None = None
    agent_id: str | None = None
    limit: int = Field(default=50, ge=1, le=100)


class HistoryQuery(Query):
    before: str | None = Field(default=None, description="a message id: the page before it")
    limit: int = Field(default=50, ge=1, le=100)


class Formats(Query):
    format: one_of(analytics.FORMATS) = "json"
    table: one_of(csv_export.TABLES) = Field(default="summary", description="csv only: which table of the figures")


class StatisticsQuery(Formats):
    from_: str | None = Field(default=None, alias="from", pattern=DAY,
                              description="YYYY-MM-DD (default: today)")
    to: str | None = Field(default=None, pattern=DAY, description="YYYY-MM-DD")
    tz: str | None = Field(default=None, description="an IANA time zone (default UTC)")
    agent_id: str | None = Field(default=None, description="admins: one agent; agents: only themselves")


class ReportQuery(Formats):
    date: str = Field(pattern=DAY, description="YYYY-MM-DD")


class InsightsQuery(Query):
    days: int = Field(default=7, ge=1, le=periods.MAX_RANGE_DAYS)


class PerformanceQuery(Query):
    window: one_of(tuple(str(w) for w in performance.WINDOWS_MINUTES)) = Field(default="5", description="minutes")


class Page(Query):
    limit: int = Field(default=paging.DEFAULT_LIMIT, ge=1, le=paging.MAX_LIMIT)
    cursor: str | None = Field(default=None, description="``next`` of the previous page")


class OnlineUsersQuery(Page):
    role: one_of(operations.USER_TYPES) = "agent"


class ConnectionsQuery(Page):
    user_id: str | None = None
    role: one_of(operations.ROLES) | None = None


class QueueQuery(Query):
    limit: int = Field(default=kefu.QUEUE_PAGE, ge=1, le=500)
    after: int | None = Field(default=None, description="``next`` of the previous page (a ticket)")


class ClosedQuery(Query):
    scope: one_of(inbox.SCOPES) = Field(default="mine", description="all: everyone's (admins)")
    limit: int = Field(default=25, ge=1, le=100)
    cursor: str | None = Field(default=None, description="``next`` of the previous page")


class SearchQuery(Query):
    q: str = Field(min_length=1, max_length=200, pattern=r"\S",
                   description="the start of a customer's name or email, or a visitor id")


class CustomerQuery(Query):
    session_id: str | None = Field(default=None, description="the conversation on screen (read consistently)")
