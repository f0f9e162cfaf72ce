"""/api/kefu: the assignment endpoints existing clients call (paths and bodies are a contract)."""

from __future__ import annotations

import time

import pytest

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.models import AgentModel, SessionModel
from chalicelib.services import assignment
from tests.conftest import simulated_aws


def _overview(api, caller) -> dict[str, dict]:
    response = api.get("/api/kefu/agents", caller)
    assert response.status_code == 200
    return {a["agent_id"]: a for a in response.json_body["agents"]}


# --- assign ----------------------------------------------------------------------------------------


def test_assign_gives_the_customer_an_online_agent(api, people):
    agent = people.agent("alice", display_name="Alice", online=True)
    visitor = people.visitor("Ann")

    response = api.post(f"/api/kefu/assign/{visitor.user_id}", agent)

    assert response.status_code == 200
    body = response.json_body
    assert body["customer_id"] == visitor.user_id
    assert body["agent"] == {"id": agent.user_id, "name": "Alice"}
    assert body["session_id"].startswith("s_")
    clock.parse_iso(body["assigned_at"])
    session = api.get(f"/api/sessions/{body['session_id']}", visitor).json_body
    assert (session["status"], session["agent"]["id"]) == ("active", agent.user_id)
    assert _overview(api, agent)[agent.user_id]["active"] == 1


def test_assign_is_idempotent_for_a_customer_who_has_an_agent(api, people):
    agent = people.agent("alice", online=True)
    people.agent("bob", online=True)
    visitor = people.visitor("Ann")
    first = api.post(f"/api/kefu/assign/{visitor.user_id}", agent).json_body

    second = api.post(f"/api/kefu/assign/{visitor.user_id}", agent)

    assert second.status_code == 200
    assert {k: second.json_body[k] for k in ("customer_id", "agent", "session_id", "assigned_at")} == {
        k: first[k] for k in ("customer_id", "agent", "session_id", "assigned_at")}
    assert sum(a["active"] for a in _overview(api, agent).values()) == 1
    assert len(api.get("/api/sessions", visitor).json_body["sessions"]) == 1


def test_assign_queues_the_customer_when_nobody_has_room(api, people):
    agent = people.agent("alice")
    first = people.visitor("Ann")
    second = people.visitor("Ben")

    queued_first = api.post(f"/api/kefu/assign/{first.user_id}", agent)
    queued_second = api.post(f"/api/kefu/assign/{second.user_id}", agent)

    assert queued_first.status_code == queued_second.status_code == 202
    body = queued_first.json_body
    assert (body["customer_id"], body["queued"], body["position"]) == (first.user_id, True, 1)
    assert body["session_id"].startswith("s_")
    assert queued_second.json_body["position"] == 2
    assert SessionModel.get(body["session_id"]).status == "queued"


def test_assign_for_a_customer_already_waiting_returns_the_same_place(api, people):
    agent = people.agent("alice")
    first = people.visitor("Ann")
    people.start_session(first)
    people.start_session(people.visitor("Ben"))

    again = api.post(f"/api/kefu/assign/{first.user_id}", agent)

    assert again.status_code == 202
    assert again.json_body["position"] == 1
    assert [q["customer_id"] for q in api.get("/api/kefu/queue", agent).json_body["queue"]].count(
        first.user_id) == 1


def test_assign_for_an_unknown_customer_is_not_found(api, people):
    agent = people.agent("alice", online=True)

    response = api.post("/api/kefu/assign/v_nobody", agent)

    assert response.status_code == 404
    assert response.json_body["error"] == "not_found"
    assert _overview(api, agent)[agent.user_id]["active"] == 0


def test_assign_needs_an_agent_token(api, people):
    visitor = people.visitor("Ann")

    assert api.post(f"/api/kefu/assign/{visitor.user_id}").status_code == 401
    assert api.post(f"/api/kefu/assign/{visitor.user_id}", visitor).status_code == 403


# --- release ---------------------------------------------------------------------------------------


def test_release_frees_the_agent_exactly_once(api, people):
    agent = people.agent("alice", online=True)
    first = people.visitor("Ann")
    second = people.visitor("Ben")
    session_id = api.post(f"/api/kefu/assign/{first.user_id}", agent).json_body["session_id"]
    api.post(f"/api/kefu/assign/{second.user_id}", agent)
    assert _overview(api, agent)[agent.user_id]["active"] == 2

    released = api.post(f"/api/kefu/release/{first.user_id}", agent)
    again = api.post(f"/api/kefu/release/{first.user_id}", agent)

    assert released.status_code == 200
    assert released.json_body["customer_id"] == first.user_id
    assert released.json_body["released_agent_id"] == agent.user_id
    assert again.status_code == 404
    assert again.json_body["error"] == "not_found"
    assert _overview(api, agent)[agent.user_id]["active"] == 1
    assert AgentModel.get(agent.user_id).active_count == 1
    assert SessionModel.get(session_id).status == "ended"


def test_release_for_a_customer_without_an_agent_is_not_found(api, people):
    agent = people.agent("alice")
    waiting = people.visitor("Ann")
    people.start_session(waiting)

    assert api.post(f"/api/kefu/release/{waiting.user_id}", agent).status_code == 404
    assert api.post("/api/kefu/release/v_nobody", agent).status_code == 404
    assert api.get("/api/kefu/queue", agent).json_body["queue"][0]["customer_id"] == waiting.user_id


def test_a_released_customer_can_be_assigned_again(api, people):
    agent = people.agent("alice", online=True)
    visitor = people.visitor("Ann")
    first = api.post(f"/api/kefu/assign/{visitor.user_id}", agent).json_body
    api.post(f"/api/kefu/release/{visitor.user_id}", agent)

    again = api.post(f"/api/kefu/assign/{visitor.user_id}", agent)

    assert again.status_code == 200
    assert again.json_body["session_id"] != first["session_id"]
    assert _overview(api, agent)[agent.user_id]["active"] == 1


def test_release_hands_the_freed_slot_to_the_oldest_waiting_customer(api, people):
    agent = people.agent("alice", capacity=1, online=True)
    served = people.visitor("Ann")
    api.post(f"/api/kefu/assign/{served.user_id}", agent)
    waiting = people.visitor("Ben")
    waiting_session = api.post(f"/api/kefu/assign/{waiting.user_id}", agent).json_body["session_id"]

    api.post(f"/api/kefu/release/{served.user_id}", agent)

    assert SessionModel.get(waiting_session).agent_id == agent.user_id
    assert api.get(f"/api/kefu/customer/{waiting.user_id}", agent).json_body["agent"]["id"] == agent.user_id
    assert _overview(api, agent)[agent.user_id]["active"] == 1


def test_admin_releases_any_customer(api, people):
    agent = people.agent("alice", online=True)
    admin = people.admin()
    visitor = people.visitor("Ann")
    api.post(f"/api/kefu/assign/{visitor.user_id}", agent)

    response = api.post(f"/api/kefu/release/{visitor.user_id}", admin)

    assert response.status_code == 200
    assert response.json_body["released_agent_id"] == agent.user_id
    assert _overview(api, admin)[agent.user_id]["active"] == 0


# --- customer --------------------------------------------------------------------------------------


def test_customer_shows_the_current_agent_and_when_the_assignment_expires(api, people):
    agent = people.agent("alice", display_name="Alice", online=True)
    visitor = people.visitor("Ann")
    assigned = api.post(f"/api/kefu/assign/{visitor.user_id}", agent).json_body

    response = api.get(f"/api/kefu/customer/{visitor.user_id}", agent)

    assert response.status_code == 200
    body = response.json_body
    assert body["customer_id"] == visitor.user_id
    assert body["agent"] == {"id": agent.user_id, "name": "Alice"}
    assert body["session_id"] == assigned["session_id"]
    assert body["assigned_at"] == assigned["assigned_at"]
    ttl = clock.epoch_of(body["expires_at"]) - clock.epoch_of(body["assigned_at"])
    assert 30 * 60 - 2 <= ttl <= 30 * 60 + 2


def test_a_message_pushes_the_assignment_expiry_out(api, people):
    agent = people.agent("alice", online=True)
    visitor = people.visitor("Ann")
    session_id = api.post(f"/api/kefu/assign/{visitor.user_id}", agent).json_body["session_id"]
    before = api.get(f"/api/kefu/customer/{visitor.user_id}", agent).json_body["expires_at"]
    time.sleep(1.01 - time.time() % 1)  # expiry is in whole seconds: let the second tick

    api.post(f"/api/sessions/{session_id}/messages", visitor, body={"text": "hello?", "client_msg_id": "c-1"})

    after = api.get(f"/api/kefu/customer/{visitor.user_id}", agent).json_body["expires_at"]
    assert clock.epoch_of(after) > clock.epoch_of(before)


@pytest.mark.parametrize("who", ["unknown", "waiting", "ended"])
def test_customer_without_an_agent_is_not_found(api, people, who):
    agent = people.agent("alice")
    visitor = people.visitor("Ann")
    if who == "waiting":
        people.start_session(visitor)
    if who == "ended":
        people.bring_online(agent)
        api.post(f"/api/kefu/assign/{visitor.user_id}", agent)
        api.post(f"/api/kefu/release/{visitor.user_id}", agent)
    customer_id = "v_nobody" if who == "unknown" else visitor.user_id

    response = api.get(f"/api/kefu/customer/{customer_id}", agent)

    assert response.status_code == 404
    assert response.json_body["error"] == "not_found"


# --- queue and agents ------------------------------------------------------------------------------


def test_queue_lists_waiting_customers_oldest_first_with_positions(api, people):
    agent = people.agent("alice")
    waiting = [people.visitor(name) for name in ("Ann", "Ben", "Cy")]
    sessions = [people.start_session(v).session.session_id for v in waiting]

    response = api.get("/api/kefu/queue", agent)

    assert response.status_code == 200
    queue = response.json_body["queue"]
    assert [q["session_id"] for q in queue] == sessions
    assert [q["customer_id"] for q in queue] == [v.user_id for v in waiting]
    assert [q["position"] for q in queue] == [1, 2, 3]
    since = [q["waiting_since"] for q in queue]
    assert since == sorted(since)
    waits = [q["wait_seconds"] for q in queue]
    assert all(w >= 0 for w in waits)
    assert waits == sorted(waits, reverse=True)


def test_queue_positions_close_up_when_a_waiting_customer_leaves(api, people):
    agent = people.agent("alice")
    waiting = [people.visitor(name) for name in ("Ann", "Ben", "Cy")]
    sessions = [people.start_session(v).session.session_id for v in waiting]

    assert api.post(f"/api/sessions/{sessions[1]}/end", waiting[1]).status_code == 200

    queue = api.get("/api/kefu/queue", agent).json_body["queue"]
    assert [(q["session_id"], q["position"]) for q in queue] == [(sessions[0], 1), (sessions[2], 2)]
    assert api.get(f"/api/sessions/{sessions[2]}", waiting[2]).json_body["position"] == 2


def test_a_later_page_of_the_queue_counts_positions_without_those_who_left_however_far_the_index_lags(
        api, people):
    from tests.conftest import simulated_aws

    agent = people.agent("alice")
    waiting = [people.visitor(name) for name in ("Ann", "Ben", "Cy", "Di")]
    sessions = [people.start_session(v).session.session_id for v in waiting]
    first_page = api.get("/api/kefu/queue?limit=2", agent).json_body
    with simulated_aws(gsi_lag_ms=60_000, lag_spike=0, stale_read=0, tx_conflict=0, write_conflict=0,
                       throttle=0, lost_response=0):
        assert api.post(f"/api/sessions/{sessions[0]}/end", waiting[0]).status_code == 200

        second_page = api.get(f"/api/kefu/queue?limit=2&after={first_page['next']}", agent).json_body

    assert [(q["session_id"], q["position"]) for q in second_page["queue"]] == [(sessions[2], 2), (sessions[3], 3)]


def test_queue_is_empty_when_everyone_is_served(api, people):
    agent = people.agent("alice", online=True)
    people.start_session(people.visitor("Ann"))

    assert api.get("/api/kefu/queue", agent).json_body == {"queue": []}


def test_a_colleague_online_a_moment_after_being_created_is_listed_while_the_directory_index_lags(api, people):
    bob = people.agent("bob", display_name="Bob")
    lagging = {"gsi_lag_ms": 60_000, "lag_spike": 0, "stale_read": 0, "tx_conflict": 0, "write_conflict": 0,
               "throttle": 0, "lost_response": 0}
    with simulated_aws(**lagging):  # every index a minute behind the writes from here on
        eve = people.agent("eve", display_name="Eve", online=True)

        listed = _overview(api, bob)

    assert (listed[eve.user_id]["display_name"], listed[eve.user_id]["status"]) == ("Eve", "online")
    assert list(listed) == sorted(listed, key=lambda agent_id: listed[agent_id]["display_name"])


def test_agents_overview_shows_status_load_and_capacity_of_every_agent(api, people):
    alice = people.agent("alice", display_name="Alice", capacity=3, online=True)
    bob = people.agent("bob", display_name="Bob")
    people.start_session(people.visitor("Ann"))

    response = api.get("/api/kefu/agents", bob)

    assert response.status_code == 200
    agents = {a["agent_id"]: a for a in response.json_body["agents"]}
    assert set(agents) == {alice.user_id, bob.user_id}
    for entry in agents.values():
        assert {"agent_id", "display_name", "status", "active", "max_concurrent",
                "last_assigned_at"} <= entry.keys()
    a, b = agents[alice.user_id], agents[bob.user_id]
    assert (a["display_name"], a["status"], a["active"], a["max_concurrent"]) == ("Alice", "online", 1, 3)
    assert (b["display_name"], b["status"], b["active"], b["max_concurrent"]) == ("Bob", "offline", 0, 5)
    clock.parse_iso(a["last_assigned_at"])
    assert b["last_assigned_at"] is None


# --- cleanup ---------------------------------------------------------------------------------------


def test_cleanup_is_admin_only(api, people):
    agent = people.agent("alice")

    response = api.post("/api/kefu/cleanup", agent)

    assert response.status_code == 403
    assert response.json_body["error"] == "forbidden"


def test_cleanup_with_nothing_wrong_changes_nothing(api, people):
    admin = people.admin()
    agent = people.agent("alice", online=True)
    people.start_session(people.visitor("Ann"))

    response = api.post("/api/kefu/cleanup", admin)

    assert response.status_code == 200
    body = response.json_body
    assert body["expired_released"] == []
    assert body["counts_fixed"] == []
    assert _overview(api, admin)[agent.user_id]["active"] == 1


@pytest.mark.parametrize("wrong", [7, 0])
def test_cleanup_repairs_an_agents_broken_active_count(api, people, wrong, time_passes):
    admin = people.admin()
    agent = people.agent("alice", capacity=5, online=True)
    people.start_session(people.visitor("Ann"))
    people.start_session(people.visitor("Ben"))
    AgentModel.get(agent.user_id).update(actions=[AgentModel.active_count.set(wrong)])
    time_passes(get_config().index_settle_seconds)  # a count is lowered only once the index settled

    response = api.post("/api/kefu/cleanup", admin)

    assert response.status_code == 200
    assert {"agent_id": agent.user_id, "was": wrong, "now": 2} in response.json_body["counts_fixed"]
    assert _overview(api, admin)[agent.user_id]["active"] == 2
    assert api.post("/api/kefu/cleanup", admin).json_body["counts_fixed"] == []


def test_an_agent_whose_count_was_inflated_takes_customers_again_after_cleanup(api, people, time_passes):
    admin = people.admin()
    agent = people.agent("alice", capacity=5, online=True)
    people.start_session(people.visitor("Ann"))
    AgentModel.get(agent.user_id).update(actions=[AgentModel.active_count.set(7)])
    stuck = people.start_session(people.visitor("Ben")).session.session_id
    assert SessionModel.get(stuck).status == "queued"
    time_passes(get_config().index_settle_seconds)  # a count is lowered only once the index settled
    assignment.agent_heartbeat(agent.user_id)

    report = api.post("/api/kefu/cleanup", admin).json_body

    assert report["dispatched"] == 1
    assert SessionModel.get(stuck).agent_id == agent.user_id
    assert _overview(api, admin)[agent.user_id]["active"] == 2
