"""Token revocation on REST, tried as an attacker would; disabling and deleting agents for real.

A token stops working when its agent's role or password changes, when the agent is disabled or
deleted, or when an admin revokes the user's tokens; another container notices within its cache
window (30 s here, plus API Gateway's 30 s authorizer cache in AWS).
"""

from __future__ import annotations

import pytest

from chalicelib import clock
from chalicelib.models import AgentModel, SessionModel
from chalicelib.services import revocation
from tests.api.conftest import PASSWORD
from tests.api.matrix import ADMIN_ONLY, DENIED, FORBIDDEN, auth_matrix, outcome

NEW_ADMIN = {"username": "mallory", "password": "s3cret-pass", "role": "admin"}


@pytest.fixture(autouse=True)
def real_time():
    yield
    clock.reset()


def can_create_admin(api, caller) -> int | str:
    return outcome(api.post("/api/agents", caller, body=NEW_ADMIN))


def test_a_demoted_admin_with_a_new_password_cannot_use_the_old_token(api, people):
    root = people.admin("root")
    eve = people.admin("eve")

    demoted = api.patch(f"/api/agents/{eve.user_id}", root, body={"role": "agent"})
    new_password = api.patch(f"/api/agents/{eve.user_id}", root, body={"password": "another-pass"})

    assert (demoted.status_code, new_password.status_code) == (200, 200)
    assert can_create_admin(api, eve) == DENIED
    assert outcome(api.get("/api/agents/me", eve)) == DENIED
    assert api.post("/api/auth/login", body={"username": "mallory", "password": "s3cret-pass"}).status_code == 401
    fresh = people.login("eve", "another-pass")
    assert api.get("/api/agents/me", fresh).json_body["role"] == "agent"
    assert can_create_admin(api, fresh) == FORBIDDEN


def test_a_role_change_alone_revokes_the_token(api, people):
    root = people.admin("root")
    eve = people.admin("eve")

    api.patch(f"/api/agents/{eve.user_id}", root, body={"role": "agent"})

    assert can_create_admin(api, eve) == DENIED


def test_a_password_change_revokes_the_token_but_a_display_name_does_not(api, people):
    root = people.admin("root")
    alice = people.agent("alice")

    api.patch(f"/api/agents/{alice.user_id}", root, body={"display_name": "Alice A."})
    assert api.get("/api/agents/me", alice).status_code == 200

    api.patch(f"/api/agents/{alice.user_id}", root, body={"password": "brand-new-pass"})
    assert outcome(api.get("/api/agents/me", alice)) == DENIED
    assert api.get("/api/agents/me", people.login("alice", "brand-new-pass")).status_code == 200


def test_setting_the_same_role_again_keeps_the_token(api, people):
    root = people.admin("root")
    alice = people.agent("alice")

    api.patch(f"/api/agents/{alice.user_id}", root, body={"role": "agent"})

    assert api.get("/api/agents/me", alice).status_code == 200


def test_a_token_of_a_deleted_agent_cannot_create_an_admin(api, people):
    root = people.admin("root")
    eve = people.admin("eve")

    deleted = api.call("delete", f"/api/agents/{eve.user_id}", root)

    assert deleted.status_code == 204
    assert can_create_admin(api, eve) == DENIED
    assert outcome(api.get("/api/agents/me", eve)) == DENIED
    assert api.post("/api/auth/login", body={"username": "eve", "password": PASSWORD}).status_code == 401


def test_a_token_of_an_agent_whose_record_vanished_is_refused(api, people):
    eve = people.admin("eve")
    AgentModel(eve.user_id).delete()
    revocation.clear_cache()

    assert can_create_admin(api, eve) == DENIED


def test_deleting_an_agent_frees_the_username_and_hands_their_customers_on(api, people):
    root = people.admin("root")
    alice = people.agent("alice", online=True)
    visitor = people.visitor("Vic")
    state = people.start_session(visitor)
    assert state.session.agent_id == alice.user_id
    bob = people.agent("bob", online=True)

    assert api.call("delete", f"/api/agents/{alice.user_id}", root).status_code == 204

    session = SessionModel.get(state.session.session_id)
    assert (session.status, session.agent_id) == ("active", bob.user_id)
    assert api.patch(f"/api/agents/{alice.user_id}", root, body={"display_name": "x"}).status_code == 404
    assert "alice" not in [a["username"] for a in api.get("/api/agents", root).json_body["agents"]]
    again = api.post("/api/agents", root, body={"username": "alice", "password": "s3cret-pass"})
    assert again.status_code == 201
    assert again.json_body["agent_id"] != alice.user_id


def test_deleting_an_unknown_agent_is_not_found(api, people):
    root = people.admin("root")

    response = api.call("delete", "/api/agents/a_nobody", root)

    assert (response.status_code, response.json_body["error"]) == (404, "not_found")


def test_a_disabled_agent_cannot_log_in_loses_their_tokens_and_customers(api, people):
    root = people.admin("root")
    alice = people.agent("alice", online=True)
    visitor = people.visitor("Vic")
    state = people.start_session(visitor)
    assert state.session.agent_id == alice.user_id

    response = api.patch(f"/api/agents/{alice.user_id}", root, body={"disabled": True})

    assert response.status_code == 200
    assert (response.json_body["disabled"], response.json_body["status"]) == (True, "offline")
    assert outcome(api.get("/api/agents/me", alice)) == DENIED
    assert api.post("/api/auth/login", body={"username": "alice", "password": PASSWORD}).status_code == 401
    agent = AgentModel.get(alice.user_id)
    assert (agent.status, agent.pool, int(agent.active_count)) == ("offline", None, 0)
    session = SessionModel.get(state.session.session_id)
    assert (session.status, session.agent_id) == ("queued", None)


def test_a_disabled_agent_gets_no_new_customer_and_cannot_be_set_online(api, people):
    root = people.admin("root")
    alice = people.agent("alice", online=True)
    api.patch(f"/api/agents/{alice.user_id}", root, body={"disabled": True})

    refused = api.patch(f"/api/agents/{alice.user_id}", root, body={"status": "online"})
    state = people.start_session(people.visitor("Vic"))

    assert (refused.status_code, refused.json_body["error"]) == (409, "conflict")
    assert (state.session.status, state.session.agent_id) == ("queued", None)


def test_an_enabled_agent_logs_in_again_but_old_tokens_stay_revoked(api, people):
    root = people.admin("root")
    alice = people.agent("alice")
    api.patch(f"/api/agents/{alice.user_id}", root, body={"disabled": True})

    enabled = api.patch(f"/api/agents/{alice.user_id}", root, body={"disabled": False})

    assert (enabled.status_code, enabled.json_body["disabled"]) == (200, False)
    assert outcome(api.get("/api/agents/me", alice)) == DENIED
    assert api.get("/api/agents/me", people.login("alice")).status_code == 200


@pytest.mark.parametrize("body", [
    {"disabled": True, "colour": "red"},
    {"max_concurent": 3},
    {"disabled": "true"},
    {"disabled": 1},
])
def test_unknown_or_mistyped_patch_fields_are_422_and_change_nothing(api, people, body):
    root = people.admin("root")
    alice = people.agent("alice")

    response = api.patch(f"/api/agents/{alice.user_id}", root, body=body)

    assert (response.status_code, response.json_body["error"]) == (422, "validation_error")
    agent = AgentModel.get(alice.user_id)
    assert (agent.disabled, int(agent.max_concurrent)) == (None, 5)
    assert api.get("/api/agents/me", alice).status_code == 200


def test_agent_delete_needs_an_admin(api, people):
    bob = people.agent("bob")

    assert auth_matrix(api, people, "delete", f"/api/agents/{bob.user_id}") == ADMIN_ONLY
    assert AgentModel.get(bob.user_id).agent_id == bob.user_id


def test_revoking_a_visitors_tokens_refuses_them_everywhere(api, people):
    root = people.admin("root")
    visitor = people.visitor("Vic")
    assert api.get("/api/sessions", visitor).status_code == 200

    response = api.post(f"/api/users/{visitor.user_id}/disconnect", root, body={"revoke_tokens": True})

    assert response.status_code == 200
    assert (response.json_body["user_type"], response.json_body["tokens_revoked"]) == ("visitor", True)
    assert outcome(api.get("/api/sessions", visitor)) == DENIED


def test_disconnect_without_revoke_keeps_the_tokens(api, people):
    root = people.admin("root")
    alice = people.agent("alice")

    response = api.post(f"/api/users/{alice.user_id}/disconnect", root, body={})

    assert (response.status_code, response.json_body["tokens_revoked"]) == (200, False)
    assert api.get("/api/agents/me", alice).status_code == 200


def test_revoking_an_agent_refuses_old_tokens_and_accepts_a_new_login(api, people):
    root = people.admin("root")
    alice = people.agent("alice")

    api.post(f"/api/users/{alice.user_id}/disconnect", root, body={"revoke_tokens": True})

    assert outcome(api.get("/api/agents/me", alice)) == DENIED
    assert api.get("/api/agents/me", people.login("alice")).status_code == 200


def test_a_revocation_made_by_another_container_takes_effect_within_the_cache_window(api, people):
    alice = people.agent("alice")
    assert api.get("/api/agents/me", alice).status_code == 200  # generation now cached here
    # Another container revokes: the record changes, this container's cache does not know yet.
    AgentModel(alice.user_id).update(actions=[AgentModel.token_gen.add(1)])

    still_cached = outcome(api.get("/api/agents/me", alice))
    clock.advance(31)
    after_window = outcome(api.get("/api/agents/me", alice))

    assert (still_cached, after_window) == (200, DENIED)


def test_revocation_body_is_strict(api, people):
    root = people.admin("root")
    alice = people.agent("alice")

    answers = [api.post(f"/api/users/{alice.user_id}/disconnect", root, body=body).status_code
               for body in ({"revoke_tokens": "yes"}, {"revoke": True})]

    assert answers == [422, 422]
    assert api.get("/api/agents/me", alice).status_code == 200


def test_disconnecting_an_unknown_user_is_not_found(api, people):
    root = people.admin("root")

    response = api.post("/api/users/v_nobody/disconnect", root, body={"revoke_tokens": True})

    assert (response.status_code, response.json_body["error"]) == (404, "not_found")


def test_agent_patch_needs_an_admin(api, people):
    bob = people.agent("bob")

    assert auth_matrix(api, people, "patch", f"/api/agents/{bob.user_id}", body={"disabled": True}) == ADMIN_ONLY
    assert AgentModel.get(bob.user_id).disabled is None
