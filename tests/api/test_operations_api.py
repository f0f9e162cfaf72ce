"""Operations endpoints through the Chalice test client: online users, connections, WebSocket stats.

Sockets here are connection records made by the same service ``$connect`` uses; there is no
gateway behind them (the e2e tests close real sockets). Every list pages with an opaque cursor.
"""

from __future__ import annotations

import pytest

from chalicelib import clock
from chalicelib.config import get_config, reload_config
from chalicelib.models import ConnectionModel
from chalicelib.services import connections, wsstats
from chalicelib.ws import actions
from tests.api.matrix import ADMIN_ONLY, auth_matrix


@pytest.fixture(autouse=True)
def real_time():
    yield
    clock.reset()


@pytest.fixture(autouse=True)
def no_gateway(monkeypatch):
    """Nothing listens at the ``@connections`` endpoint, even when an e2e stack ran earlier in this
    process (its gateway would answer 410 for these made-up sockets, and 410 deletes the record)."""
    monkeypatch.setenv("KEFU_WS_MANAGEMENT_ENDPOINT", "http://127.0.0.1:9")
    reload_config()
    yield
    monkeypatch.undo()
    reload_config()


def open_socket(caller, connection_id: str, *, stale: bool = False, ip: str = "198.51.100.7"):
    """A connection record as ``$connect`` writes it; ``stale``: silent past the heartbeat window."""
    record = connections.register(connection_id, caller.principal, ip, "pytest-agent/1.0")
    actions.on_registered(caller.principal, connection_id)  # joins the owner's socket set, as $connect does
    if stale:
        record.update(actions=[ConnectionModel.last_seen_at.set(
            clock.epoch() - get_config().heartbeat_window_seconds - 5)])
    return record


def every_page(api, admin, path: str, key: str, limit: int) -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        separator = "&" if "?" in path else "?"
        url = f"{path}{separator}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = api.get(url, admin)
        assert response.status_code == 200, response.body
        pages.append(response.json_body[key])
        cursor = response.json_body["next"]
        if cursor is None:
            return pages


ADMIN_ROUTES = [
    ("get", "/api/system/online-users"),
    ("get", "/api/stats/websocket"),
    ("get", "/api/connections"),
    ("get", "/api/connections/c-1"),
    ("delete", "/api/connections/c-1"),
    ("post", "/api/users/v_1/disconnect"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_operations_routes_are_for_admins_only(api, people, method, path):
    assert auth_matrix(api, people, method, path, body={}) == ADMIN_ONLY


def test_online_agents_are_those_with_a_live_socket_with_their_load(api, people):
    admin = people.admin("root")
    alice = people.agent("alice", capacity=3, online=True)
    bob = people.agent("bob")
    carol = people.agent("carol")
    open_socket(alice, "c-a1")
    open_socket(alice, "c-a2")
    open_socket(alice, "c-a3", stale=True)
    open_socket(bob, "c-b1", stale=True)
    people.start_session(people.visitor("Vic"))

    response = api.get("/api/system/online-users?role=agent", admin)

    assert response.status_code == 200
    users = response.json_body["users"]
    assert [u["user_id"] for u in users] == [alice.user_id]
    assert {k: users[0][k] for k in ("connections", "status", "load", "capacity", "user_type")} == {
        "connections": 2, "status": "online", "load": 1, "capacity": 3, "user_type": "agent"}
    assert response.json_body["next"] is None
    assert carol.user_id not in [u["user_id"] for u in users]


def test_online_visitors_are_listed_apart_from_agents(api, people):
    admin = people.admin("root")
    alice = people.agent("alice")
    ann = people.visitor("Ann")
    open_socket(alice, "c-a1")
    open_socket(ann, "c-v1")
    open_socket(ann, "c-v2")

    bea = people.visitor("Bea")
    open_socket(bea, "c-v3")
    state = people.start_session(bea)

    users = api.get("/api/system/online-users?role=visitor", admin).json_body["users"]

    assert [(u["user_id"], u["name"], u["connections"], u["status"]) for u in users] == [
        (ann.user_id, "Ann", 2, "idle"), (bea.user_id, "Bea", 1, "queued")]
    assert users[1]["session_id"] == state.session.session_id


def test_online_users_page_through_every_user_exactly_once(api, people):
    admin = people.admin("root")
    visitors = [people.visitor(f"V{i}") for i in range(5)]
    for i, visitor in enumerate(visitors):
        open_socket(visitor, f"c-{i}-first")
    for i, visitor in enumerate(visitors):  # second sockets, later: every user spans the listing
        open_socket(visitor, f"c-{i}-second")

    pages = every_page(api, admin, "/api/system/online-users?role=visitor", "users", limit=2)

    listed = [u["user_id"] for page in pages for u in page]
    assert sorted(listed) == sorted(v.user_id for v in visitors)
    assert len(pages) >= 3 and all(len(page) <= 2 for page in pages)
    assert {u["connections"] for page in pages for u in page} == {2}


def test_an_unknown_role_or_a_limit_out_of_range_is_refused(api, people):
    admin = people.admin("root")

    answers = [api.get(path, admin) for path in ("/api/system/online-users?role=robot",
                                                 "/api/connections?role=robot",
                                                 "/api/connections?limit=201",
                                                 "/api/connections?limit=0")]

    assert [(r.status_code, r.json_body["error"]) for r in answers] == [(422, "validation_error")] * 4


@pytest.mark.parametrize("cursor", ["not-base64!", "bm90IGpzb24", "eyJrZXkiOnsiYSI6MX19", "W10"])
def test_a_forged_cursor_is_a_bad_request(api, people, cursor):
    admin = people.admin("root")

    answers = [api.get(f"{path}{cursor}", admin) for path in ("/api/connections?cursor=",
                                                              "/api/connections?user_id=v_1&cursor=",
                                                              "/api/system/online-users?cursor=")]

    assert [(r.status_code, r.json_body["error"]) for r in answers] == [(400, "bad_request")] * 3


def test_connections_list_filters_by_user_and_role(api, people):
    admin = people.admin("root")
    alice = people.agent("alice")
    ann = people.visitor("Ann")
    open_socket(admin, "c-root")
    open_socket(alice, "c-alice")
    open_socket(ann, "c-ann1")
    open_socket(ann, "c-ann2", stale=True)

    def ids(query: str) -> list[str]:
        response = api.get(f"/api/connections{query}", admin)
        assert response.status_code == 200, response.body
        return sorted(c["connection_id"] for c in response.json_body["connections"])

    assert ids("") == ["c-alice", "c-ann1", "c-ann2", "c-root"]
    assert ids(f"?user_id={ann.user_id}") == ["c-ann1", "c-ann2"]
    assert ids("?role=visitor") == ["c-ann1", "c-ann2"]
    assert ids("?role=agent") == ["c-alice", "c-root"]
    assert ids("?role=admin") == ["c-root"]
    listed = api.get(f"/api/connections?user_id={ann.user_id}", admin).json_body["connections"]
    assert {c["connection_id"]: c["live"] for c in listed} == {"c-ann1": True, "c-ann2": False}
    assert {c["source_ip"] for c in listed} == {"198.51.100.7"}


def test_a_connection_closed_a_moment_ago_is_not_listed_however_far_the_index_lags(api, people):
    from tests.conftest import simulated_aws

    admin = people.admin("root")
    ann, bea = people.visitor("Ann"), people.visitor("Bea")
    open_socket(ann, "c-ann")
    open_socket(bea, "c-bea")
    with simulated_aws(gsi_lag_ms=60_000, lag_spike=0, stale_read=0, tx_conflict=0, write_conflict=0,
                       throttle=0, lost_response=0):
        assert api.call("delete", "/api/connections/c-ann", admin).status_code in (200, 204)

        pages = every_page(api, admin, "/api/connections?role=visitor", "connections", 1)

    assert [c["connection_id"] for page in pages for c in page] == ["c-bea"]


def test_expired_connection_records_are_not_listed(api, people):
    admin = people.admin("root")
    ann = people.visitor("Ann")
    open_socket(ann, "c-old").update(actions=[ConnectionModel.expires_at.set(int(clock.epoch()) - 1)])
    open_socket(ann, "c-new")

    listed = api.get("/api/connections", admin).json_body["connections"]

    assert [c["connection_id"] for c in listed] == ["c-new"]


@pytest.mark.parametrize("query", ["", "?role=visitor", "?user_id=USER"])
def test_connections_page_through_everything_once(api, people, query):
    admin = people.admin("root")
    ann = people.visitor("Ann")
    others = [people.visitor(f"V{i}") for i in range(2)] + [people.agent(f"agent-{i}") for i in range(2)]
    expected = set()
    for i in range(5):
        open_socket(ann, f"c-ann-{i}")
        expected.add(f"c-ann-{i}")
    for i, person in enumerate(others):
        open_socket(person, f"c-other-{i}")
        if query == "" or (query == "?role=visitor" and person.user_id.startswith("v_")):
            expected.add(f"c-other-{i}")

    pages = every_page(api, admin, f"/api/connections{query.replace('USER', ann.user_id)}",
                       "connections", limit=2)

    listed = [c["connection_id"] for page in pages for c in page]
    assert sorted(listed) == sorted(expected)
    assert len(pages) >= 3 and all(len(page) <= 2 for page in pages)


def test_one_connection_in_detail_even_when_the_gateway_cannot_be_reached(api, people):
    admin = people.admin("root")
    ann = people.visitor("Ann")
    open_socket(ann, "c-ann")

    response = api.get("/api/connections/c-ann", admin)

    assert response.status_code == 200
    body = response.json_body
    assert (body["user_id"], body["user_type"], body["role"]) == (ann.user_id, "visitor", "visitor")
    assert (body["source_ip"], body["user_agent"], body["live"]) == ("198.51.100.7", "pytest-agent/1.0", True)
    assert body["connected_at"] and body["last_seen_at"]
    assert body["gateway"]["state"] == "unknown"  # no gateway runs behind the test client


def test_an_unknown_connection_is_not_found(api, people):
    admin = people.admin("root")

    answers = [api.get("/api/connections/c-nobody", admin),
               api.call("delete", "/api/connections/c-nobody", admin)]

    assert [(r.status_code, r.json_body["error"]) for r in answers] == [(404, "not_found")] * 2


def test_closing_a_connection_whose_socket_is_gone_removes_the_record(api, people):
    admin = people.admin("root")
    ann = people.visitor("Ann")
    open_socket(ann, "c-ann")

    response = api.call("delete", "/api/connections/c-ann", admin)

    assert response.status_code == 200
    assert response.json_body == {"connection_id": "c-ann", "was_open": False, "record_removed": True}
    assert api.get(f"/api/connections?user_id={ann.user_id}", admin).json_body["connections"] == []


def test_websocket_stats_count_events_over_5_and_60_minutes(api, people):
    admin = people.admin("root")
    alice = people.agent("alice")
    open_socket(alice, "c-alice")
    open_socket(people.visitor("Ann"), "c-ann", stale=True)
    wsstats.record(connects=2, frames_received=7)
    wsstats.record(messages_pushed=3, gone_cleanups=1, push_failures=1)
    clock.advance(10 * 60)
    wsstats.record(connects=1, disconnects=1, frames_received=2)

    response = api.get("/api/stats/websocket", admin)

    assert response.status_code == 200
    body = response.json_body
    assert body["windows"]["5m"] == {"connects": 1, "disconnects": 1, "frames_received": 2,
                                     "messages_pushed": 0, "gone_cleanups": 0, "push_failures": 0}
    assert body["windows"]["60m"] == {"connects": 3, "disconnects": 1, "frames_received": 9,
                                      "messages_pushed": 3, "gone_cleanups": 1, "push_failures": 1}
    assert body["connections"] == {"agent": {"open": 1, "live": 0}, "visitor": {"open": 1, "live": 0}}


def test_websocket_stats_forget_what_is_older_than_an_hour(api, people):
    admin = people.admin("root")
    wsstats.record(connects=5)
    clock.advance(61 * 60)

    body = api.get("/api/stats/websocket", admin).json_body

    assert body["windows"]["60m"]["connects"] == 0


def test_a_fan_out_counts_each_delivery(people):
    from chalicelib import push

    alice = people.agent("alice")
    open_socket(alice, "c-a1")
    open_socket(alice, "c-a2")
    before = wsstats.totals(5)

    push.send_to_users([alice.user_id], {"type": "hello"})

    after = wsstats.totals(5)
    assert after["push_failures"] - before["push_failures"] == 2  # nothing listens at the endpoint


def test_websocket_stats_count_a_write_that_met_a_transaction_conflict_once(tables):
    from tests import faults

    with faults.refuse("UpdateItem", "TransactionConflictException", times=2) as refused:
        wsstats.record(frames_received=1, messages_pushed=2)
        wsstats.flush()

    assert refused.injected == {"UpdateItem": 2}
    totals = wsstats.totals(5)
    assert (totals["frames_received"], totals["messages_pushed"]) == (1, 2)


def test_a_websocket_count_dynamodb_refused_is_sent_again_and_counted_once():
    from tests import faults

    before = wsstats.totals(5)

    with faults.refuse("UpdateItem", "ProvisionedThroughputExceededException", times=2) as refused:
        wsstats.record(frames_received=1)
        wsstats.flush()
    with faults.lose_response("UpdateItem", times=1) as lost:
        wsstats.record(frames_received=1)
        wsstats.flush()  # applied, answer lost: not sent again (ADD would count twice)

    after = wsstats.totals(5)
    assert (refused.injected, lost.injected) == ({"UpdateItem": 2}, {"UpdateItem": 1})
    assert after["frames_received"] - before["frames_received"] == 2


def test_websocket_counts_reach_the_table_at_most_once_a_second_and_are_never_lost(tables, time_passes):
    from chalicelib.models import WsStatsModel

    def stored() -> int:
        return sum(int(item.frames_received or 0) for item in WsStatsModel.scan(consistent_read=True))

    wsstats.flush()  # a container that has just merged its counts
    for _ in range(5):
        wsstats.record(frames_received=1)
    kept_in_the_container = stored()
    time_passes(wsstats.FLUSH_INTERVAL_SECONDS)
    wsstats.record(frames_received=1)  # a second later: this event merges everything counted

    assert kept_in_the_container == 0
    assert stored() == 6
    assert wsstats.totals(5)["frames_received"] == 6
