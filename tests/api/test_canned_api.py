"""/api/canned-responses: team replies managed by admins, personal ones by each agent."""

from __future__ import annotations


def _create(api, caller, **body):
    return api.post("/api/canned-responses", caller, body=body)


def test_an_agent_sees_the_teams_replies_and_their_own_but_not_a_colleagues(api, people):
    admin = people.admin("root")
    alice, bob = people.agent("alice"), people.agent("bob")
    team = _create(api, admin, scope="team", shortcut="hello", text="Hi {{customer.name}}, {{agent.name}} here.")
    mine = _create(api, alice, shortcut="refund", text="Your refund is on its way.", title="Refund sent")
    _create(api, bob, shortcut="bye", text="Bye!")

    assert (team.status_code, mine.status_code) == (201, 201), (team.body, mine.body)
    listed = api.get("/api/canned-responses", alice).json_body["canned_responses"]
    assert [(r["shortcut"], r["scope"], r["text"]) for r in listed] == [
        ("hello", "team", "Hi {{customer.name}}, {{agent.name}} here."),
        ("refund", "personal", "Your refund is on its way.")]
    assert listed[1]["title"] == "Refund sent"


def test_only_admins_write_team_replies(api, people):
    alice = people.agent("alice")
    admin = people.admin("root")
    team = _create(api, admin, scope="team", shortcut="hello", text="Hi").json_body

    refused = [_create(api, alice, scope="team", shortcut="x", text="y"),
               api.patch(f"/api/canned-responses/{team['id']}", alice, body={"text": "changed"}),
               api.call("delete", f"/api/canned-responses/{team['id']}", alice)]

    assert [r.status_code for r in refused] == [403, 403, 403]
    assert [r["text"] for r in api.get("/api/canned-responses", alice).json_body["canned_responses"]] == ["Hi"]


def test_an_owner_edits_and_deletes_their_reply_and_nobody_else_can(api, people):
    alice, bob = people.agent("alice"), people.agent("bob")
    reply = _create(api, alice, shortcut="ship", text="It ships today").json_body

    assert api.patch(f"/api/canned-responses/{reply['id']}", bob, body={"text": "no"}).status_code == 404
    changed = api.patch(f"/api/canned-responses/{reply['id']}", alice, body={"shortcut": "shipped", "text": "Shipped"})
    assert changed.status_code == 200
    assert (changed.json_body["shortcut"], changed.json_body["text"]) == ("shipped", "Shipped")
    assert api.call("delete", f"/api/canned-responses/{reply['id']}", bob).status_code == 404
    assert api.call("delete", f"/api/canned-responses/{reply['id']}", alice).status_code == 204
    assert api.get("/api/canned-responses", alice).json_body["canned_responses"] == []


def test_a_shortcut_with_spaces_or_an_empty_text_is_refused(api, people):
    alice = people.agent("alice")

    answers = [_create(api, alice, shortcut="two words", text="x"), _create(api, alice, shortcut="ok", text=""),
               _create(api, alice, shortcut="ok", text="x", colour="red")]

    assert [r.status_code for r in answers] == [422, 422, 422]


def test_visitors_have_no_saved_replies(api, people):
    visitor = people.visitor("Ann")

    assert api.get("/api/canned-responses", visitor).status_code in (401, 403)  # denied at the authorizer


def test_a_reply_added_or_deleted_a_moment_ago_is_listed_as_it_is_now(api, people):
    """The console lists again right after adding or deleting one; every eventually consistent
    read here is answered from a copy a minute behind."""
    from tests.conftest import simulated_aws

    alice = people.agent("alice")
    kept = _create(api, alice, shortcut="bye", text="Bye!").json_body
    with simulated_aws(gsi_lag_ms=60_000, stale_read=1.0, lag_spike=0, tx_conflict=0, write_conflict=0,
                       throttle=0, lost_response=0):
        added = _create(api, alice, shortcut="refund", text="Your refund is on its way.").json_body
        assert api.call("delete", f"/api/canned-responses/{kept['id']}", alice).status_code == 204

        listed = api.get("/api/canned-responses", alice).json_body["canned_responses"]

    assert [r["id"] for r in listed] == [added["id"]]
