"""/api/widget: settings an admin changes without redeploying, and whether anyone can answer now.

Both GETs are public, cached, and readable from any origin, and creating nothing: opening the
widget must not start a conversation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.config import reload_config
from chalicelib.models import AgentModel, CounterModel, SessionModel
from chalicelib.services import widget_settings
from chalicelib.services.assignment.roster import ROSTER
from tests import faults
from tests.conftest import simulated_aws

SHOP = "https://shop.example"
STRANGER = "https://elsewhere.example"


@pytest.fixture
def shop_origin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("KEFU_CORS_ORIGINS", SHOP)
    reload_config()
    yield
    monkeypatch.undo()
    reload_config()


def _sessions() -> list[SessionModel]:
    return list(SessionModel.scan())


def _hours_opening_in(hours_from_now: int) -> dict:
    """A schedule (UTC) closed now, opening every day ``hours_from_now`` hours after this hour."""
    start = (datetime.now(UTC) + timedelta(hours=hours_from_now)).replace(minute=0)
    end = start + timedelta(minutes=59)
    interval = [start.strftime("%H:%M"), end.strftime("%H:%M")]
    return {"timezone": "UTC", "weekly": {day: [interval] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}


# --- settings ---------------------------------------------------------------------------------


def test_the_settings_are_public_cached_and_default_until_an_admin_saves_some(api):
    response = api.get("/api/widget/settings", headers={"Authorization": ""})

    assert response.status_code == 200
    body = response.json_body
    assert body["position"] == "right"
    assert body["prechat"] == {"name": "optional", "email": "optional"}
    assert body["business_hours"] is None
    assert body["greeting"] is None
    assert response.headers["Cache-Control"] == "public, max-age=60"
    etag = response.headers["ETag"]
    again = api.get("/api/widget/settings", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.body in (b"", "", None)


def test_an_admin_changes_the_settings_and_every_reader_sees_them_with_a_new_etag(api, people):
    admin = people.admin()
    before = api.get("/api/widget/settings").headers["ETag"]
    document = {"color": "#e4002b", "position": "left", "greeting": "你好！有什么可以帮您？",
                "offline_text": "We are closed.", "avatar_url": "https://cdn.example/a.png",
                "prechat": {"name": "off", "email": "required"},
                "business_hours": {"timezone": "Asia/Shanghai", "weekly": {"mon": [["09:00", "18:00"]]}}}

    saved = api.put("/api/widget/settings", admin, body=document)

    assert saved.status_code == 200, saved.json_body
    read = api.get("/api/widget/settings", headers={"If-None-Match": before})
    assert read.status_code == 200
    assert {k: read.json_body[k] for k in document} == document
    assert read.json_body["updated_at"] is not None
    assert read.headers["ETag"] != before


def test_a_save_whose_answer_was_lost_is_answered_as_saved_and_a_later_save_of_another_admin_stands(api, people):
    admin = people.admin()

    def mine(params: dict) -> bool:
        return "mine" in json.dumps(params)

    def another_admin_saves() -> None:
        widget_settings.replace({"greeting": "theirs"}, "another-admin")

    def my_retry(params: dict) -> bool:
        return mine(params) and bool(lost.injected)

    with faults.lose_response("PutItem", when=mine) as lost, \
            faults.before("PutItem", another_admin_saves, when=my_retry) as landed:
        saved = api.put("/api/widget/settings", admin, body={"greeting": "mine"})  # applied, answer lost

    assert lost.injected == landed.injected == {"PutItem": 1}
    assert saved.status_code == 200, saved.json_body
    read = api.get("/api/widget/settings").json_body
    assert read["greeting"] == "theirs"  # saved after this one, not written over by its retry


@pytest.mark.parametrize("document, field", [
    ({"color": "red"}, "color"),
    ({"position": "middle"}, "position"),
    ({"business_hours": {"timezone": "Mars/Olympus", "weekly": {}}}, "time zone"),
    ({"business_hours": {"timezone": "UTC", "weekly": {"mon": [["18:00", "09:00"]]}}}, "open before it closes"),
    ({"business_hours": {"timezone": "UTC", "weekly": {"mon": [["9am", "5pm"]]}}}, "business_hours"),
    ({"prechat": {"email": "sometimes"}}, "prechat"),
    ({"avatar_url": "javascript:alert(1)"}, "avatar_url"),
    ({"colour": "#fff"}, "colour"),
])
def test_bad_settings_are_refused_with_422_and_change_nothing(api, people, document, field):
    admin = people.admin()
    before = api.get("/api/widget/settings").json_body

    response = api.put("/api/widget/settings", admin, body=document)

    assert response.status_code == 422
    assert response.json_body["error"] == "validation_error"
    assert field in response.json_body["message"]
    assert api.get("/api/widget/settings").json_body == before


def test_settings_that_are_not_json_are_a_400(api, people):
    response = api.put("/api/widget/settings", people.admin(), raw="{color: red")

    assert response.status_code == 400
    assert response.json_body["error"] == "invalid_json"


def test_only_admins_change_the_settings(api, people):
    agent = people.agent()
    visitor = people.visitor()

    assert api.put("/api/widget/settings", agent, body={"color": "#000"}).status_code == 403
    assert api.put("/api/widget/settings", visitor, body={"color": "#000"}).status_code in (401, 403)
    assert api.put("/api/widget/settings", body={"color": "#000"}).status_code == 401


def test_a_stale_if_match_is_refused_and_a_current_one_accepted(api, people):
    admin = people.admin()
    first = api.put("/api/widget/settings", admin, body={"color": "#111111"}).headers["ETag"]
    api.put("/api/widget/settings", admin, body={"color": "#222222"})

    stale = api.put("/api/widget/settings", admin, body={"color": "#333333"}, headers={"If-Match": first})
    current = api.get("/api/widget/settings").headers["ETag"]
    fresh = api.put("/api/widget/settings", admin, body={"color": "#444444"}, headers={"If-Match": current})

    assert stale.status_code == 412
    assert stale.json_body["error"] == "precondition_failed"
    assert fresh.status_code == 200
    assert api.get("/api/widget/settings").json_body["color"] == "#444444"


# --- CORS: the page learns that its origin is refused ------------------------------------------


def test_any_origin_reads_the_settings_and_learns_whether_the_api_admits_it(api, shop_origin):
    refused = api.get("/api/widget/settings", headers={"Origin": STRANGER})
    admitted = api.get("/api/widget/settings", headers={"Origin": SHOP})

    assert refused.headers["Access-Control-Allow-Origin"] == "*"
    assert refused.json_body["cors"] == {"origin": STRANGER, "allowed": False, "setting": "KEFU_CORS_ORIGINS"}
    assert admitted.json_body["cors"]["allowed"] is True
    assert "Origin" in refused.headers["Vary"]


def test_a_refused_preflight_names_the_setting_to_change(api, shop_origin):
    response = api.call("options", "/api/visitors", headers={
        "Origin": STRANGER, "Access-Control-Request-Method": "POST"})

    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers
    assert response.headers["X-Kefu-Cors-Error"] == f"origin {STRANGER} is not in KEFU_CORS_ORIGINS"
    assert response.json_body["error"] == "cors_origin_refused"


# --- availability -----------------------------------------------------------------------------


def test_nobody_online_means_nobody_can_answer(api, people):
    people.agent()  # offline

    body = api.get("/api/widget/availability").json_body

    assert (body["can_answer"], body["reason"], body["agents_online"]) == (False, "no_agents", False)
    assert body["offline_text"]


def test_an_agent_with_room_can_answer_and_a_full_one_makes_customers_wait(api, people):
    agent = people.agent(online=True, capacity=1)
    available = api.get("/api/widget/availability").json_body
    people.start_session(people.visitor())  # takes the agent's one slot

    busy = api.get("/api/widget/availability").json_body

    assert (available["can_answer"], available["reason"]) == (True, "available")
    assert (busy["can_answer"], busy["reason"], busy["agents_online"]) == (True, "busy", True)
    assert agent


def test_availability_follows_each_status_change_at_once_however_far_the_indexes_lag(api, people):
    """Indexes lag a status change with no bound (here a minute): a customer must not be told that
    nobody is here while an agent is online, nor be sent to the queue of an agent who left."""
    with simulated_aws("off", gsi_lag_ms=60_000):
        agent = people.agent(online=True)
        answers = [api.get("/api/widget/availability").json_body]
        for status in ("away", "online", "offline"):
            assert api.put("/api/agents/me/status", agent, body={"status": status}).status_code == 200
            answers.append(api.get("/api/widget/availability").json_body)

    assert [(a["can_answer"], a["reason"], a["agents_online"]) for a in answers] == [
        (True, "available", True), (False, "no_agents", False), (True, "available", True),
        (False, "no_agents", False)]


def test_the_sweep_puts_the_roster_of_online_agents_right(api, people):
    """Agents online before the roster existed (or a status written around it) are put on it, and
    an agent listed but no longer online is taken off, by the minute sweep."""
    online = people.agent(online=True)
    away = people.agent(online=True)
    CounterModel(ROSTER).delete()  # as before the roster existed
    AgentModel(away.user_id).update(actions=[AgentModel.status.set("away")])  # around the roster
    CounterModel(ROSTER).update(actions=[CounterModel.members.add({away.user_id})])
    before = api.get("/api/widget/availability").json_body

    report = api.post("/api/kefu/cleanup", people.admin()).json_body

    assert (before["can_answer"], before["reason"]) == (False, "no_agents")
    assert sorted(report["roster_fixed"]) == sorted([online.user_id, away.user_id])
    after = api.get("/api/widget/availability").json_body
    assert (after["can_answer"], after["reason"]) == (True, "available")
    assert api.post("/api/kefu/cleanup", people.admin()).json_body["roster_fixed"] == []


def test_outside_business_hours_nobody_can_answer_and_the_next_opening_is_given(api, people):
    people.agent(online=True)
    api.put("/api/widget/settings", people.admin(), body={"business_hours": _hours_opening_in(2)})

    response = api.get("/api/widget/availability")

    body = response.json_body
    assert (body["can_answer"], body["reason"], body["within_hours"], body["agents_online"]) == (
        False, "closed", False, True)
    opens = datetime.strptime(body["next_open_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert timedelta(hours=1) < opens - datetime.now(UTC) <= timedelta(hours=2)
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_inside_business_hours_an_online_agent_answers(api, people):
    people.agent(online=True)
    always = {"timezone": "Asia/Shanghai",
              "weekly": {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
    api.put("/api/widget/settings", people.admin(), body={"business_hours": always})

    body = api.get("/api/widget/availability").json_body

    assert (body["can_answer"], body["reason"], body["within_hours"], body["next_open_at"]) == (
        True, "available", True, None)


def test_opening_the_widget_creates_no_conversation(api, people):
    people.agent(online=True)
    visitor = people.visitor("Curious")

    for _ in range(5):
        assert api.get("/api/widget/settings").status_code == 200
        assert api.get("/api/widget/availability").status_code == 200
        assert api.get("/api/sessions", visitor).json_body == {"sessions": []}

    assert _sessions() == []


def test_every_route_but_the_public_few_needs_a_token():
    """Login, visitor sign-up, health, the API's own description (#22), and the widget's settings
    and availability (asked before anyone signs up) are the only routes without an authorizer."""
    from app import app

    public = {(method, path) for path, methods in app.routes.items() for method, entry in methods.items()
              if method != "OPTIONS" and entry.authorizer is None}

    assert public == {("POST", "/api/auth/login"), ("POST", "/api/visitors"), ("GET", "/api/system/health"),
                      ("GET", "/api/openapi.json"), ("GET", "/api/widget/settings"),
                      ("GET", "/api/widget/availability")}


def test_what_a_frame_reads_of_the_settings_is_at_most_ten_seconds_old(api, people, time_passes):
    """``start_session`` frames read the settings as their container last read them (a read per
    frame would cost a seventh of a conversation's start): another container's save is seen within
    ``RECENT_SECONDS``."""
    from chalicelib.models import SettingsModel
    from chalicelib.models.settings import WIDGET_SETTINGS
    from chalicelib.services import widget_settings

    assert widget_settings.recent().document["greeting"] is None  # read now, kept
    api.put("/api/widget/settings", people.admin(), body={"greeting": "Hi"})
    saved_here = widget_settings.recent().document["greeting"]
    stored = SettingsModel.get(WIDGET_SETTINGS, consistent_read=True)
    stored.document, stored.revision = '{"greeting": "Hello"}', stored.revision + 1
    stored.save()  # as another container saves it
    time_passes(widget_settings.RECENT_SECONDS - 5)
    before_the_bound = widget_settings.recent().document["greeting"]
    time_passes(6)
    after_the_bound = widget_settings.recent().document["greeting"]

    assert (saved_here, before_the_bound, after_the_bound) == ("Hi", "Hi", "Hello")
