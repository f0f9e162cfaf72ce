"""/api/agents: an agent's own profile and status; admins create, list and change accounts."""

from __future__ import annotations

from chalicelib.models import AgentModel
from chalicelib.services import assignment
from tests import faults
from tests.api.conftest import PASSWORD

NEW_AGENT = {"username": "bob", "password": "s3cret-pass", "display_name": "Bob B."}


def test_me_returns_the_callers_own_profile(api, people):
    agent = people.agent("alice", display_name="Alice A.", capacity=3)
    people.agent("someone_else")

    response = api.get("/api/agents/me", agent)

    assert response.status_code == 200
    body = response.json_body
    assert body["agent_id"] == agent.user_id
    assert (body["username"], body["display_name"], body["role"]) == ("alice", "Alice A.", "agent")
    assert (body["status"], body["max_concurrent"], body["active"]) == ("offline", 3, 0)
    assert "password_hash" not in body


def test_agent_sets_their_own_status(api, people):
    agent = people.agent("alice")

    for status in ("online", "away", "offline"):
        response = api.put("/api/agents/me/status", agent, body={"status": status})

        assert response.status_code == 200
        assert response.json_body["status"] == status
        assert api.get("/api/agents/me", agent).json_body["status"] == status
        assert AgentModel.get(agent.user_id).status == status


def test_an_unknown_status_is_a_validation_error_and_changes_nothing(api, people):
    agent = people.agent("alice")
    api.put("/api/agents/me/status", agent, body={"status": "away"})
    bodies = {"busy": {"status": "busy"}, "upper_case": {"status": "ONLINE"}, "null": {"status": None},
              "missing": {}}

    answers = {key: api.put("/api/agents/me/status", agent, body=body) for key, body in bodies.items()}

    assert {k: (r.status_code, r.json_body["error"]) for k, r in answers.items()} == {
        k: (422, "validation_error") for k in bodies}
    assert api.get("/api/agents/me", agent).json_body["status"] == "away"


def test_admin_creates_an_agent_who_can_then_log_in(api, people):
    admin = people.admin()

    response = api.post("/api/agents", admin, body=NEW_AGENT)

    assert response.status_code == 201
    created = response.json_body
    assert (created["username"], created["display_name"]) == ("bob", "Bob B.")
    assert (created["role"], created["status"], created["max_concurrent"], created["active"]) == (
        "agent", "offline", 5, 0)
    assert "password" not in created and "password_hash" not in created
    bob = people.login("bob", "s3cret-pass")
    assert bob.user_id == created["agent_id"]


def test_admin_creates_an_admin_with_a_chosen_capacity(api, people):
    admin = people.admin()

    created = api.post("/api/agents", admin, body={**NEW_AGENT, "role": "admin", "max_concurrent": 12})

    assert created.status_code == 201
    assert (created.json_body["role"], created.json_body["max_concurrent"]) == ("admin", 12)
    bob = people.login("bob", "s3cret-pass")
    assert api.get("/api/agents", bob).status_code == 200


def test_display_name_defaults_to_the_username(api, people):
    admin = people.admin()

    created = api.post("/api/agents", admin, body={"username": "carol", "password": "s3cret-pass"})

    assert created.json_body["display_name"] == "carol"


def test_admin_lists_every_agent(api, people):
    admin = people.admin("root")
    people.agent("alice")
    people.agent("bob")

    response = api.get("/api/agents", admin)

    assert response.status_code == 200
    assert sorted(a["username"] for a in response.json_body["agents"]) == ["alice", "bob", "root"]
    assert all("password_hash" not in a for a in response.json_body["agents"])


def test_the_agent_list_is_whole_when_dynamodb_hands_back_unprocessed_keys(api, people):
    admin = people.admin("root")
    people.agent("alice")
    people.agent("bob")

    with faults.unprocessed(times=2) as injected:
        response = api.get("/api/agents", admin)

    assert injected.injected == {"BatchGetItem": 2}
    assert response.status_code == 200, response.body
    assert sorted(a["username"] for a in response.json_body["agents"]) == ["alice", "bob", "root"]


def test_plain_agent_cannot_use_the_admin_routes(api, people):
    agent = people.agent("alice")
    other = people.agent("bob")

    created = api.post("/api/agents", agent, body={**NEW_AGENT, "username": "mallory", "role": "admin"})
    listed = api.get("/api/agents", agent)
    patched = api.patch(f"/api/agents/{other.user_id}", agent, body={"max_concurrent": 50})
    promoted = api.patch(f"/api/agents/{agent.user_id}", agent, body={"role": "admin"})

    for response in (created, listed, patched, promoted):
        assert response.status_code == 403
        assert response.json_body["error"] == "forbidden"
    assert api.post("/api/auth/login", body={"username": "mallory",
                                             "password": NEW_AGENT["password"]}).status_code == 401
    assert AgentModel.get(other.user_id).max_concurrent == 5
    assert AgentModel.get(agent.user_id).role == "agent"


def test_a_taken_username_is_a_conflict_whatever_its_case(api, people):
    admin = people.admin()
    people.agent("alice")

    answers = {name: api.post("/api/agents", admin, body={**NEW_AGENT, "username": name})
               for name in ("alice", "Alice", "ALICE")}

    assert {n: (r.status_code, r.json_body["error"]) for n, r in answers.items()} == {
        n: (409, "conflict") for n in answers}
    usernames = [a["username"] for a in api.get("/api/agents", admin).json_body["agents"]]
    assert sum(name.lower() == "alice" for name in usernames) == 1


INVALID_NEW_AGENTS = {
    "short_password": {**NEW_AGENT, "password": "short"},
    "short_username": {**NEW_AGENT, "username": "x"},
    "username_with_space": {**NEW_AGENT, "username": "has space"},
    "unknown_role": {**NEW_AGENT, "role": "superuser"},
    "negative_capacity": {**NEW_AGENT, "max_concurrent": -1},
    "no_username": {"password": "s3cret-pass"},
}


def test_create_agent_with_an_invalid_body_is_a_validation_error(api, people):
    admin = people.admin()

    answers = {key: api.post("/api/agents", admin, body=body) for key, body in INVALID_NEW_AGENTS.items()}

    assert {k: (r.status_code, r.json_body["error"]) for k, r in answers.items()} == {
        k: (422, "validation_error") for k in INVALID_NEW_AGENTS}
    assert len(api.get("/api/agents", admin).json_body["agents"]) == 1


def test_admin_changes_capacity_role_and_display_name(api, people):
    admin = people.admin()
    agent = people.agent("alice")

    response = api.patch(f"/api/agents/{agent.user_id}", admin,
                         body={"max_concurrent": 9, "role": "admin", "display_name": "Alice Smith"})

    assert response.status_code == 200
    body = response.json_body
    assert (body["max_concurrent"], body["role"], body["display_name"]) == (9, "admin", "Alice Smith")
    stored = AgentModel.get(agent.user_id)
    assert (stored.max_concurrent, stored.role, stored.display_name) == (9, "admin", "Alice Smith")


def test_a_promoted_agent_gets_admin_rights_at_their_next_login(api, people):
    admin = people.admin()
    agent = people.agent("alice")
    api.patch(f"/api/agents/{agent.user_id}", admin, body={"role": "admin"})

    again = people.login("alice")

    assert api.get("/api/agents", again).status_code == 200


def test_admin_resets_a_password(api, people):
    admin = people.admin()
    agent = people.agent("alice")

    response = api.patch(f"/api/agents/{agent.user_id}", admin, body={"password": "brand-new-pass"})

    assert response.status_code == 200
    assert api.post("/api/auth/login", body={"username": "alice", "password": PASSWORD}).status_code == 401
    assert people.login("alice", "brand-new-pass").user_id == agent.user_id


def test_patching_an_unknown_agent_is_not_found(api, people):
    admin = people.admin()

    response = api.patch("/api/agents/a_doesnotexist", admin, body={"max_concurrent": 3})

    assert response.status_code == 404
    assert response.json_body["error"] == "not_found"


def test_patch_with_an_invalid_value_is_a_validation_error_and_changes_nothing(api, people):
    admin = people.admin()
    agent = people.agent("alice")
    bodies = {"negative_capacity": {"max_concurrent": -1}, "huge_capacity": {"max_concurrent": 1001},
              "unknown_role": {"role": "root"}, "empty_name": {"display_name": ""}}

    answers = {key: api.patch(f"/api/agents/{agent.user_id}", admin, body=body) for key, body in bodies.items()}

    assert {k: r.status_code for k, r in answers.items()} == dict.fromkeys(bodies, 422)
    stored = AgentModel.get(agent.user_id)
    assert (stored.max_concurrent, stored.role, stored.display_name) == (5, "agent", "alice")


def test_going_online_answers_with_the_customers_the_agent_took_on_the_way(api, people):
    agent = people.agent("alice", capacity=3)
    for name in ("Ann", "Ben"):
        assert people.start_session(people.visitor(name)).session.status == "queued"
    assignment.agent_heartbeat(agent.user_id)

    response = api.put("/api/agents/me/status", agent, body={"status": "online"})

    assert response.status_code == 200
    assert (response.json_body["status"], response.json_body["active"]) == ("online", 2)
