"""Dates at the ends of the calendar are a client's mistake: out-of-range days (years 0001 and
9999, where a day's start or end in a time zone does not exist) are answered 400 ``out_of_range``, never 500."""

from __future__ import annotations

import pytest

EDGES = ["0001-01-01", "0001-01-02", "9999-12-30", "9999-12-31"]


@pytest.mark.parametrize("query", [
    *(f"from={day}&to={day}" for day in EDGES),
    "from=9999-12-31", "to=0001-01-01",
    "from=0001-01-01&to=0001-01-01&tz=Etc/GMT%2B12", "from=9999-12-31&to=9999-12-31&tz=Pacific/Kiritimati",
    "from=1969-12-31&to=1970-01-01",
])
def test_statistics_for_days_out_of_range_are_refused_as_invalid(api, people, query):
    response = api.get(f"/api/sessions/statistics?{query}", people.admin())

    assert (response.status_code, response.json_body["error"]) == (400, "out_of_range")


@pytest.mark.parametrize("day", EDGES)
def test_a_report_for_a_day_out_of_range_is_refused_as_invalid(api, people, day):
    admin = people.admin()

    read = api.get(f"/api/analytics/report?date={day}", admin)
    generated = api.post("/api/analytics/report", admin, body={"date": day})
    ranged = api.post("/api/analytics/report", admin, body={"from": day, "to": day})

    assert [(r.status_code, r.json_body["error"]) for r in (read, generated, ranged)] == \
        [(400, "out_of_range")] * 3


def test_the_first_and_last_days_of_the_supported_range_are_answered(api, people):
    admin = people.admin()

    first = api.get("/api/sessions/statistics?from=1970-01-01&to=1970-01-01&tz=Etc/GMT-14", admin)
    last = api.get("/api/sessions/statistics?from=9998-12-31&to=9998-12-31&tz=Etc/GMT%2B12", admin)

    assert (first.status_code, last.status_code) == (200, 200)
