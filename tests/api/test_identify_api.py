"""``window.kefu('identify', ...)``: a shop's logged-in customer, verified by ``user_hash`` =
HMAC-SHA256(workspace secret, user_id). Verified identities are one visitor across devices;
unverified ones are shown as such and never merged with (or take over) a verified one."""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid

import pytest


def _hash(user_id: str) -> str:
    return hmac.new(os.environ["KEFU_IDENTITY_SECRET"].encode(), user_id.encode(), hashlib.sha256).hexdigest()


def _identify(api, visitor, user_id, **fields):
    return api.post("/api/visitors/me/identify", visitor, body={"user_id": user_id, **fields})


@pytest.fixture
def user_id() -> str:
    return f"shop-user-{uuid.uuid4().hex[:8]}"


def test_a_good_hash_verifies_the_identity(api, people, user_id):
    visitor = people.visitor()

    response = _identify(api, visitor, user_id, user_hash=_hash(user_id), name="Ann Lee",
                         email="ann@example.com", attributes={"plan": "pro", "orders": 12, "vip": True})

    assert response.status_code == 200, response.json_body
    body = response.json_body
    assert body["switched"] is False and "token" not in body
    assert body["visitor"] == {"visitor_id": visitor.user_id, "name": "Ann Lee", "email": "ann@example.com",
                               "email_verified": True, "user_id": user_id, "verified": True,
                               "attributes": {"plan": "pro", "orders": 12, "vip": True}}


def test_a_bad_hash_is_refused_and_stores_nothing(api, people, user_id):
    visitor = people.visitor("Ann")

    response = _identify(api, visitor, user_id, user_hash=_hash(user_id + "x"), email="mallory@example.com")

    assert response.status_code == 403
    assert response.json_body["error"] == "invalid_user_hash"
    profile = api.get("/api/visitors/me", visitor).json_body
    assert (profile["user_id"], profile["verified"], profile["email"]) == (None, False, None)


def test_a_hash_of_any_text_is_refused_as_a_bad_hash_not_a_server_error(api, people, user_id):
    visitor = people.visitor()

    identified = _identify(api, visitor, user_id, user_hash="é" * 64)
    signed_up = api.post("/api/visitors", None, body={"user_id": user_id, "user_hash": "ハッシュ"})

    assert (identified.status_code, identified.json_body["error"]) == (403, "invalid_user_hash")
    assert (signed_up.status_code, signed_up.json_body["error"]) == (403, "invalid_user_hash")


@pytest.mark.parametrize("number", [1e308, -1e200, 1e-300, 10**40, 2**53])
def test_an_attribute_number_dynamodb_or_a_browser_cannot_hold_is_refused(api, people, user_id, number):
    visitor = people.visitor()

    response = _identify(api, visitor, user_id, attributes={"plan": "pro", "figure": number})

    assert response.status_code == 422, response.json_body
    assert "attributes.figure" in response.json_body["message"]
    profile = api.get("/api/visitors/me", visitor)
    assert profile.status_code == 200 and profile.json_body["attributes"] == {}


def test_attribute_numbers_within_range_are_kept_as_given(api, people, user_id):
    visitor = people.visitor()
    attributes = {"orders": 2**53 - 1, "spent": 1234.56, "tiny": 1e-120, "zero": 0, "refunds": -3}

    response = _identify(api, visitor, user_id, attributes=attributes)

    assert response.status_code == 200, response.json_body
    assert api.get("/api/visitors/me", visitor).json_body["attributes"] == attributes


def test_a_verified_user_is_one_visitor_across_devices(api, people, user_id):
    laptop, phone = people.visitor(), people.visitor()
    _identify(api, laptop, user_id, user_hash=_hash(user_id))
    session_id = api.post("/api/sessions", laptop, body={"text": "from my laptop", "client_msg_id": "l1"}
                          ).json_body["session"]["session_id"]

    switched = _identify(api, phone, user_id, user_hash=_hash(user_id)).json_body

    assert switched["switched"] is True
    assert switched["visitor"]["visitor_id"] == laptop.user_id
    from tests.api.conftest import Caller

    same_person = Caller(laptop.user_id, switched["token"])
    assert [s["session_id"] for s in api.get("/api/sessions", same_person).json_body["sessions"]] == [session_id]


def test_without_a_hash_the_identity_is_unverified_and_never_merged(api, people, user_id):
    owner, impostor = people.visitor(), people.visitor()
    _identify(api, owner, user_id, user_hash=_hash(user_id))

    response = _identify(api, impostor, user_id, name="Not Ann")

    assert response.status_code == 200
    body = response.json_body
    assert body["switched"] is False and "token" not in body
    assert (body["visitor"]["visitor_id"], body["visitor"]["verified"]) == (impostor.user_id, False)
    assert api.get("/api/visitors/me", owner).json_body["name"] is None


def test_an_unverified_identify_cannot_change_a_verified_visitor(api, people, user_id):
    visitor = people.visitor()
    _identify(api, visitor, user_id, user_hash=_hash(user_id))

    response = _identify(api, visitor, "someone-else")

    assert response.status_code == 409
    assert response.json_body["error"] == "identity_conflict"
    assert api.get("/api/visitors/me", visitor).json_body["user_id"] == user_id


def test_the_conversation_shows_agents_who_the_customer_is(api, people, user_id):
    agent = people.agent(online=True)
    verified, unverified = people.visitor(), people.visitor()
    _identify(api, verified, user_id, user_hash=_hash(user_id), email="v@example.com")
    _identify(api, unverified, "claimed-id", email="u@example.com")

    first = api.post("/api/sessions", verified, body={"text": "hi", "client_msg_id": "1"}).json_body
    second = api.post("/api/sessions", unverified, body={"text": "hi", "client_msg_id": "1"}).json_body

    seen = {s["session_id"]: s["identity"] for s in api.get("/api/sessions", agent).json_body["sessions"]}
    assert seen[first["session"]["session_id"]] == {"email": "v@example.com", "user_id": user_id, "verified": True}
    assert seen[second["session"]["session_id"]] == {"email": "u@example.com", "user_id": "claimed-id",
                                                     "verified": False}


def test_sign_up_with_a_verified_identity_returns_that_users_visitor(api, user_id):
    first = api.post("/api/visitors", body={"user_id": user_id, "user_hash": _hash(user_id), "name": "Ann"})
    second = api.post("/api/visitors", body={"user_id": user_id, "user_hash": _hash(user_id)})
    forged = api.post("/api/visitors", body={"user_id": user_id, "user_hash": "0" * 64})

    assert first.status_code == 201 and second.status_code == 200
    assert second.json_body["visitor_id"] == first.json_body["visitor_id"]
    assert second.json_body["visitor"]["verified"] is True
    assert second.json_body["token"]
    assert forged.status_code == 403


@pytest.mark.parametrize("body", [{}, {"user_id": ""}, {"user_id": "u", "attributes": {str(i): i for i in range(21)}},
                                  {"user_id": "u", "attributes": {"nested": {"a": 1}}}, {"user_id": "u", "email": "x"}])
def test_a_malformed_identify_is_a_422(api, people, body):
    assert api.post("/api/visitors/me/identify", people.visitor(), body=body).status_code == 422


def test_agents_do_not_identify(api, people):
    response = _identify(api, people.agent(), "u")

    assert response.status_code == 403
    assert response.json_body["error"] == "forbidden"
