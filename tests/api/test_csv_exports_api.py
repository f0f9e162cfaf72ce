"""CSV exports are safe to open in a spreadsheet: text that starts like a formula is escaped with a
leading single quote (OWASP's rule), numbers stay numbers."""

from __future__ import annotations

import csv
import io

import pytest

from chalicelib.csvtext import safe_cell, to_csv

HOSTILE = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tTab", "\rReturn"]


@pytest.mark.parametrize("name", HOSTILE)
def test_an_agents_display_name_is_exported_as_text_not_a_formula(api, people, name):
    admin = people.admin()
    agent = people.agent(display_name=name, online=True)
    people.start_session(people.visitor())

    response = api.get("/api/sessions/statistics?format=csv", admin)

    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.body.decode(), newline="")))
    row = next(r for r in rows if r["agent_id"] == agent.user_id)
    assert row["agent_name"] == "'" + name
    assert row["sessions_assigned"] == "1"


def test_only_cells_that_start_like_a_formula_are_changed():
    assert [safe_cell(v) for v in ("Ann", "a=b", "", -3, 2.5, None)] == ["Ann", "a=b", "", -3, 2.5, None]
    assert to_csv(["=h", "n"], [["@x", -1], [None, "ok"], ["a\rb", 1]]) == \
        "'=h,n\r\n'@x,-1\r\n,ok\r\n\"a\rb\",1\r\n"
