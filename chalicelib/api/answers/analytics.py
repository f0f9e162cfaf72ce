"""Figures (documented in docs/analytics.md): ``/api/sessions/statistics``, ``/api/analytics``."""

from __future__ import annotations

from pydantic import Field, RootModel

from chalicelib.api.answers.common import Answer


class Statistics(Answer):
    from_: str = Field(alias="from")
    to: str
    per_agent: dict | list | None = None
    partial: bool | None = None


class Report(Answer):
    date: str
    partial: bool | None = None
    overall: dict


class Reports(Answer):
    reports: list[Report]


class Insights(Answer):
    days: int
    current: dict
    previous: dict
    figures: dict | list
    peak_hours: list[dict]
    agents_moved: list[dict] | dict


class GeneratedReports(RootModel[Report | Reports]):
    """One day's report (``date`` given), or every day's of ``from``..``to``."""
