"""Analytics read as a specification: the figures of a scripted set of days, computed by the test
from the script alone, are what statistics, the stored reports, CSV, SVG and insights answer."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest

from chalicelib.jobs import reports as reports_job
from chalicelib.models import ReportModel
from chalicelib.services.analytics import insights as analytics_insights
from tests import faults
from tests.analytics.script import expected

FIGURES = ("overall", "per_agent", "busiest_hours", "hourly_queue_wait_s")


def get(client, world, path: str, who: str | None = "admin"):
    return client.http.get(path, headers=world.headers(who))


def post(client, world, path: str, body: dict):
    return client.http.post(path, headers={**world.headers("admin"), "Content-Type": "application/json"},
                            body=json.dumps(body))


def figures_of(body: dict) -> dict:
    return {key: body[key] for key in FIGURES}


def test_statistics_over_the_scripted_days_are_the_scripts_figures(client, world):
    first, last = world.day(3), world.day(1)

    response = get(client, world, f"/api/sessions/statistics?from={first}&to={last}")

    assert response.status_code == 200, response.body
    body = response.json_body
    assert figures_of(body) == expected(world.script, world.names, first, last)
    assert body["live"] == {"queued": 0, "active": 0, "agents_online": 0}
    assert (body["from"], body["to"], body["partial"]) == (first.isoformat(), last.isoformat(), False)


def test_statistics_in_a_named_time_zone_take_its_days_and_hours(client, world):
    first, last = world.day(3), world.day(1)

    body = get(client, world, f"/api/sessions/statistics?from={first}&to={last}&tz=Asia/Shanghai").json_body

    assert figures_of(body) == expected(world.script, world.names, first, last, "Asia/Shanghai")
    assert body["busiest_hours"][8] == 0 and sum(body["busiest_hours"]) > 0


def test_daily_schedule_stores_yesterdays_report_once_per_delivery(client, world):
    yesterday = world.day(1)
    # The module's other tests store reports of other days in the same world; a worker can run one
    # of them first (xdist's worksteal keeps no order between stolen tests): start with none.
    for stored in ReportModel.scan(ReportModel.report_id.startswith("daily#")):
        stored.delete()
    event = client.events.generate_cw_event("aws.events", "Scheduled Event", {}, [])
    event.update(id="delivery-1", time=f"{world.today}T00:10:00Z")

    first = client.lambda_.invoke("daily_report", event).payload
    ReportModel(f"daily#{yesterday}").delete()
    repeated = client.lambda_.invoke("daily_report", event).payload  # the same delivery again

    assert first == repeated and first["date"] == yesterday.isoformat()
    assert get(client, world, f"/api/analytics/report?date={yesterday}").status_code == 404

    event.update(id="delivery-2")  # a new delivery (or a manual re-run) replaces the report
    client.lambda_.invoke("daily_report", event)
    client.lambda_.invoke("daily_report", {**event, "id": "delivery-3"})

    body = get(client, world, f"/api/analytics/report?date={yesterday}").json_body
    assert figures_of(body) == expected(world.script, world.names, yesterday, yesterday)
    assert body["date"] == yesterday.isoformat() and body["partial"] is False
    assert [r.report_id for r in ReportModel.scan(ReportModel.report_id.startswith("daily#"))] \
        == [f"daily#{yesterday}"]


def test_a_delivery_whose_idempotency_record_was_written_but_unanswered_still_stores_the_report(client, world):
    yesterday = world.day(1)
    ReportModel(f"daily#{yesterday}").delete()
    event = client.events.generate_cw_event("aws.events", "Scheduled Event", {}, [])
    event.update(id="delivery-unanswered", time=f"{world.today}T00:10:00Z")

    def in_progress_record(body: dict) -> bool:
        return body.get("Item", {}).get("status", {}).get("S") == "INPROGRESS"

    _, store, _ = reports_job.idempotent_run()
    with faults.lose_response("PutItem", when=in_progress_record, clients=[store.client]) as lost:
        answer = client.lambda_.invoke("daily_report", event).payload

    assert lost.injected == {"PutItem": 1}  # botocore's retry met the record it had written
    assert answer["date"] == yesterday.isoformat()
    assert get(client, world, f"/api/analytics/report?date={yesterday}").status_code == 200
    assert client.lambda_.invoke("daily_report", event).payload == answer  # and the delivery is done


def test_generating_a_range_stores_each_day(client, world):
    first, last = world.day(3), world.day(2)

    response = post(client, world, "/api/analytics/report", {"from": first.isoformat(), "to": last.isoformat()})

    assert response.status_code == 201, response.body
    assert [r["date"] for r in response.json_body["reports"]] == [first.isoformat(), last.isoformat()]
    for day in (first, last):
        stored = get(client, world, f"/api/analytics/report?date={day}").json_body
        assert figures_of(stored) == expected(world.script, world.names, day, day)


def test_a_past_day_without_a_report_is_not_found_and_today_is_computed_live(client, world):
    assert get(client, world, f"/api/analytics/report?date={world.day(20)}").status_code == 404
    today = get(client, world, f"/api/analytics/report?date={world.today}").json_body
    assert today["partial"] is True and today["overall"]["sessions_started"] == 0


def test_report_csv_has_the_documented_columns_and_the_scripts_figures(client, world):
    day = world.day(10)
    assert post(client, world, "/api/analytics/report", {"date": day.isoformat()}).status_code == 201
    want = expected(world.script, world.names, day, day)

    response = get(client, world, f"/api/analytics/report?date={day}&format=csv")

    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.body.decode())))
    overall = rows[0]
    assert overall["scope"] == "overall"
    assert int(overall["sessions_started"]) == want["overall"]["sessions_started"]
    assert int(overall["sessions_abandoned"]) == want["overall"]["sessions_abandoned"]
    assert float(overall["queue_wait_s_p90"]) == want["overall"]["queue_wait_s"]["p90"]
    assert float(overall["csat_average"]) == want["overall"]["csat"]["average"]
    assert [int(overall[f"csat_{n}"]) for n in range(1, 6)] == \
        [want["overall"]["csat"]["distribution"][str(n)] for n in range(1, 6)]
    agents = {r["agent_id"]: r for r in rows[1:]}
    for entry in want["per_agent"]:
        row = agents[entry["agent_id"]]
        assert row["scope"] == "agent"
        assert int(row["messages_agent"]) == entry["messages_agent"]
        assert float(row["utilisation"]) == entry["utilisation"]
    hours = list(csv.DictReader(io.StringIO(
        get(client, world, f"/api/analytics/report?date={day}&format=csv&table=hours").body.decode())))
    assert [int(h["sessions"]) for h in hours] == want["busiest_hours"]
    assert [float(h["queue_wait_avg_s"]) if h["queue_wait_avg_s"] else None for h in hours] \
        == want["hourly_queue_wait_s"]


def test_svg_chart_draws_each_hours_volume_and_wait(client, world):
    first, last = world.day(3), world.day(1)
    want = expected(world.script, world.names, first, last)

    response = get(client, world, f"/api/sessions/statistics?from={first}&to={last}&format=svg")

    assert response.headers["Content-Type"] == "image/svg+xml"
    svg = ET.fromstring(response.body)
    ns = {"svg": "http://www.w3.org/2000/svg"}
    bars = svg.findall("svg:rect[@class='sessions']", ns)
    assert [int(b.get("data-sessions")) for b in bars] == want["busiest_hours"]
    assert all(float(b.get("height")) > 0 for b in bars if int(b.get("data-sessions")))
    points = {int(p.get("data-hour")): float(p.get("data-wait")) for p in svg.findall("svg:circle", ns)}
    assert points == {h: w for h, w in enumerate(want["hourly_queue_wait_s"]) if w is not None}


def test_insights_compare_with_the_previous_period_and_say_what_moved(client, world):
    now = expected(world.script, world.names, world.day(7), world.day(1))["overall"]
    before = expected(world.script, world.names, world.day(14), world.day(8))["overall"]

    body = get(client, world, "/api/analytics/insights?days=7").json_body

    wait = body["figures"]["queue_wait"]
    assert (wait["current"], wait["previous"]) == (now["queue_wait_s"]["avg"], before["queue_wait_s"]["avg"])
    assert wait["change_pct"] == round((now["queue_wait_s"]["avg"] - before["queue_wait_s"]["avg"])
                                       / before["queue_wait_s"]["avg"] * 100, 1)
    volume = body["figures"]["volume"]
    assert (volume["current"], volume["previous"]) == (39, 48)
    abandonment = body["figures"]["abandonment"]
    assert abandonment["current"] == round(now["sessions_abandoned"] / 39, 4)
    findings = {f["metric"]: f for f in body["findings"]}
    assert findings["queue_wait"]["text"] == (
        f"Average queue wait rose {wait['change_pct']:g}% ({wait['previous']:g} to {wait['current']:g}) (worse)")
    assert findings["volume"]["change_pct"] == round((39 - 48) / 48 * 100, 1)
    assert findings["volume"]["text"].startswith("Sessions fell 18.8% (48 to 39)")
    for finding in body["findings"]:
        assert abs(finding["change_pct"]) >= analytics_insights.MIN_CHANGE_PCT
    peak = body["peak_hours"][0]
    assert peak["sessions"] == max(expected(world.script, world.names, world.day(7), world.day(1))["busiest_hours"])
    assert set(body["agents_moved"]) == {"first_response", "csat"}


def _waits_by_part(world, first_days_ago: int, last_days_ago: int) -> dict[str, list[int]]:
    parts: dict[str, list[int]] = {}
    for c in world.script:
        if world.day(first_days_ago) <= c.start.date() <= world.day(last_days_ago) and c.accept_after:
            part = next(p for p, hours in analytics_insights.PARTS_OF_DAY.items() if c.start.hour in hours)
            parts.setdefault(part, []).append(c.accept_after)
    return parts


def test_insights_find_where_in_the_day_the_wait_moved(client, world):
    now, before = _waits_by_part(world, 7, 1), _waits_by_part(world, 14, 8)
    want = {}
    for part in set(now) & set(before):
        current, previous = round(sum(now[part]) / len(now[part]), 3), round(sum(before[part]) / len(before[part]), 3)
        pct = round((current - previous) / previous * 100, 1)
        if min(len(now[part]), len(before[part])) >= 10 and abs(pct) >= 10:
            want[f"queue_wait_{part}"] = (current, previous, pct)
    assert want, "the script should move the wait of some part of the day"

    body = get(client, world, "/api/analytics/insights?days=7").json_body

    found = {f["metric"]: (f["current"], f["previous"], f["change_pct"])
             for f in body["findings"] if f["metric"].startswith("queue_wait_")}
    assert found == want
    morning = next(f for f in body["findings"] if f["metric"] == "queue_wait_morning")
    assert morning["text"].startswith(f"Queue wait rose {want['queue_wait_morning'][2]:g}% in the morning")


def test_insights_stay_silent_when_the_data_is_thin(client, world):
    body = get(client, world, "/api/analytics/insights?days=1").json_body  # 13 sessions against none

    assert body["figures"]["volume"]["current"] == 13
    assert body["findings"] == []


@pytest.mark.parametrize("path", ["/api/sessions/statistics", "/api/analytics/report?date=2026-01-01",
                                  "/api/analytics/insights"])
def test_without_a_token_analytics_answer_401_and_to_visitors_403(client, world, path):
    assert get(client, world, path, who=None).status_code == 401
    assert get(client, world, path, who="visitor").status_code == 403


def test_an_agent_reads_only_their_own_figures(client, world):
    first, last = world.day(3), world.day(1)
    want = expected(world.script, world.names, first, last)
    ann = world.names["ann"]

    own = get(client, world, f"/api/sessions/statistics?from={first}&to={last}", who="ann")
    other = get(client, world, f"/api/sessions/statistics?agent_id={world.names['bob']}", who="ann")

    assert own.status_code == 200
    assert own.json_body["per_agent"] == [e for e in want["per_agent"] if e["agent_id"] == ann]
    assert "overall" not in own.json_body and "live" not in own.json_body
    assert other.status_code == 403
    assert get(client, world, f"/api/analytics/report?date={first}", who="ann").status_code == 403
    assert get(client, world, "/api/analytics/insights", who="ann").status_code == 403


def test_admin_filters_statistics_by_agent(client, world):
    first, last = world.day(3), world.day(1)
    bob = world.names["bob"]

    body = get(client, world, f"/api/sessions/statistics?from={first}&to={last}&agent_id={bob}").json_body

    assert body["per_agent"] == [e for e in expected(world.script, world.names, first, last)["per_agent"]
                                 if e["agent_id"] == bob]


@pytest.mark.parametrize("query, status", [
    ("from=2026-01-01&to=2026-03-01", 422), ("from=yesterday", 422), ("tz=Mars/Olympus", 422),
    ("from=2026-02-02&to=2026-02-01", 422), ("format=pdf", 422)])
def test_bad_statistics_requests_are_client_errors(client, world, query, status):
    response = get(client, world, f"/api/sessions/statistics?{query}")
    assert response.status_code == status
    assert response.json_body["error"] == "validation_error"


def test_backfill_command_stores_every_day_with_a_progress_bar(client, world, capsys):
    from chalicelib import manage

    first, last = world.day(3), world.day(1)

    assert manage.main(["reports", "--from", first.isoformat(), "--to", last.isoformat()]) == 0

    out = capsys.readouterr()
    assert json.loads(out.out) == [{"date": world.day(n).isoformat(), "sessions": 13} for n in (3, 2, 1)]
    assert out.err.rstrip().endswith(f"3/3 {last.isoformat()}") and "[" + "#" * 30 + "]" in out.err
    for n in (3, 2, 1):
        stored = get(client, world, f"/api/analytics/report?date={world.day(n)}").json_body
        assert figures_of(stored) == expected(world.script, world.names, world.day(n), world.day(n))
