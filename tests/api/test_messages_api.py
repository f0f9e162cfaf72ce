"""/api/messages: soft bulk delete and the REST mirror of mark-read (agents on their own sessions,
admins on all, visitors never)."""

from __future__ import annotations

import uuid

import pytest

from chalicelib.models import MessageModel
from chalicelib.services import assignment, receipts
from chalicelib.services import chat as chat_service
from tests import faults
from tests.api.matrix import FORBIDDEN, auth_matrix, outcome


@pytest.fixture
def conversation(api, people):
    """An online agent with an auto-assigned visitor."""
    agent = people.agent("alice", display_name="Alice", online=True)
    visitor = people.visitor("Ann")
    state = people.start_session(visitor, "billing")
    assert state.session.agent_id == agent.user_id
    return agent, visitor, state.session.session_id


def say(caller, session_id: str, *texts: str) -> list[str]:
    """Store messages as ``caller``; their ids, oldest first."""
    return [chat_service.send_message(caller.principal, session_id, f"c-{uuid.uuid4().hex}", text)[0].message_id
            for text in texts]


def history(api, caller, session_id: str) -> dict[str, dict]:
    response = api.get(f"/api/sessions/{session_id}/messages?limit=100", caller)
    assert response.status_code == 200
    return {m["id"]: m for m in response.json_body["messages"]}


def delete(api, caller, session_id: str, message_ids: list[str]):
    return api.post("/api/messages/bulk-delete", caller,
                    body={"session_id": session_id, "message_ids": message_ids})


def test_the_agent_deletes_messages_of_their_session_and_history_shows_them_deleted(api, conversation):
    agent, visitor, session_id = conversation
    ids = say(visitor, session_id, "my card number is 4111 1111", "oops", "hello?")

    response = delete(api, agent, session_id, [ids[0], ids[1], "0000000000000000000deadbeef"])

    assert response.status_code == 200
    assert response.json_body == {"session_id": session_id, "deleted": ids[:2],
                                  "not_found": ["0000000000000000000deadbeef"]}
    for reader in (agent, visitor):
        seen = history(api, reader, session_id)
        assert [(seen[i]["text"], seen[i].get("deleted")) for i in ids] == [
            ("", True), ("", True), ("hello?", None)]
        assert (seen[ids[0]]["deleted_by"], bool(seen[ids[0]]["deleted_at"])) == (agent.user_id, True)
    assert MessageModel.get(session_id, ids[0]).text is None


def test_deleting_again_is_harmless_and_keeps_who_deleted_first(api, people, conversation):
    agent, visitor, session_id = conversation
    admin = people.admin("root")
    ids = say(visitor, session_id, "one", "two")
    delete(api, agent, session_id, ids[:1])

    again = delete(api, admin, session_id, ids)

    assert (again.status_code, again.json_body["deleted"], again.json_body["not_found"]) == (200, ids, [])
    assert MessageModel.get(session_id, ids[0]).deleted_by == agent.user_id
    assert MessageModel.get(session_id, ids[1]).deleted_by == admin.user_id


def test_many_messages_are_deleted_across_batches(api, conversation):
    agent, visitor, session_id = conversation
    ids = say(visitor, session_id, *[f"m{i}" for i in range(130)])  # > 100 per read, > 25 per write

    response = delete(api, agent, session_id, ids)

    assert (response.status_code, len(response.json_body["deleted"])) == (200, 130)
    assert all(m.deleted for m in MessageModel.query(session_id) if m.sender_type != "system")


def _on_messages(body: dict) -> bool:
    return any(item.get("Update", {}).get("TableName") == MessageModel.Meta.table_name
               for item in body.get("TransactItems", []))


def test_a_read_receipt_set_while_deleting_is_kept(api, conversation):
    """The agent reads the customer's messages between the delete's read and its write: the
    delete changes only what it owns (text and deletion), so the read receipt stays."""
    agent, visitor, session_id = conversation
    ids = say(visitor, session_id, "one", "two")

    with faults.before("TransactWriteItems", lambda: receipts.mark_read(agent.principal, session_id, ids[-1]),
                       when=_on_messages) as injected:
        response = delete(api, agent, session_id, ids)

    assert injected.injected == {"TransactWriteItems": 1}
    assert (response.status_code, response.json_body["deleted"]) == (200, ids)
    stored = [MessageModel.get(session_id, i, consistent_read=True) for i in ids]
    assert [(m.deleted, m.text, bool(m.read_at)) for m in stored] == [(True, None, True)] * 2


def test_a_message_deleted_by_someone_else_meanwhile_keeps_its_first_deleter(api, people, conversation):
    agent, visitor, session_id = conversation
    ids = say(visitor, session_id, "one", "two", "three")
    admin = people.admin("root")

    with faults.before("TransactWriteItems", lambda: delete(api, admin, session_id, ids[1:2]),
                       when=_on_messages) as injected:
        response = delete(api, agent, session_id, ids)

    assert injected.injected == {"TransactWriteItems": 1}
    assert (response.status_code, response.json_body["deleted"]) == (200, ids)
    assert [MessageModel.get(session_id, i, consistent_read=True).deleted_by for i in ids] == [
        agent.user_id, admin.user_id, agent.user_id]


def test_an_agent_whose_session_is_transferred_while_deleting_deletes_nothing(api, people, conversation):
    agent, visitor, session_id = conversation
    ids = say(visitor, session_id, "keep me")
    bob = people.agent("bob", online=True)

    with faults.before("TransactWriteItems",
                       lambda: assignment.transfer(session_id, bob.user_id, by_user=agent.user_id),
                       when=_on_messages) as injected:
        response = delete(api, agent, session_id, ids)

    assert injected.injected == {"TransactWriteItems": 1}
    assert (response.status_code, response.json_body["error"]) == (403, "forbidden")
    assert MessageModel.get(session_id, ids[0], consistent_read=True).text == "keep me"


def test_an_admin_deletes_in_any_session(api, people, conversation):
    _, visitor, session_id = conversation
    ids = say(visitor, session_id, "spam")

    response = delete(api, people.admin("root"), session_id, ids)

    assert (response.status_code, response.json_body["deleted"]) == (200, ids)


def test_visitors_and_other_agents_cannot_delete(api, people, conversation):
    _, visitor, session_id = conversation
    ids = say(visitor, session_id, "keep me")
    bob = people.agent("bob")

    answers = {"visitor": outcome(delete(api, visitor, session_id, ids)),
               "other_agent": outcome(delete(api, bob, session_id, ids)),
               "no_token": outcome(api.post("/api/messages/bulk-delete",
                                            body={"session_id": session_id, "message_ids": ids}))}

    assert answers == {"visitor": FORBIDDEN, "other_agent": FORBIDDEN, "no_token": 401}
    assert MessageModel.get(session_id, ids[0]).text == "keep me"


@pytest.mark.parametrize("body", [
    {"session_id": "s_x", "message_ids": []},
    {"session_id": "s_x", "message_ids": [f"m{i}" for i in range(501)]},
    {"session_id": "s_x"},
    {"message_ids": ["m1"]},
    {"session_id": "s_x", "message_ids": "m1"},
    {"session_id": "s_x", "message_ids": [""]},
    {"session_id": "s_x", "message_ids": ["m1"], "hard": True},
])
def test_a_malformed_bulk_delete_is_422(api, people, body):
    response = api.post("/api/messages/bulk-delete", people.admin("root"), body=body)

    assert (response.status_code, response.json_body["error"]) == (422, "validation_error")


def test_bulk_delete_in_an_unknown_session_is_not_found(api, people):
    response = delete(api, people.admin("root"), "s_nobody", ["m1"])

    assert (response.status_code, response.json_body["error"]) == (404, "not_found")


def test_the_agent_marks_the_customers_messages_read_over_rest(api, conversation):
    agent, visitor, session_id = conversation
    ids = say(visitor, session_id, "one", "two", "three")

    response = api.post("/api/messages/mark-read", agent, body={"session_id": session_id, "up_to": ids[1]})

    assert response.status_code == 200
    assert response.json_body == {"session_id": session_id, "up_to": ids[1], "updated": 2, "complete": True}
    seen = history(api, visitor, session_id)
    assert [bool(seen[i].get("read_at")) for i in ids] == [True, True, False]


def test_mark_read_is_for_the_sessions_agent_or_an_admin(api, people, conversation):
    _, visitor, session_id = conversation
    ids = say(visitor, session_id, "one")
    body = {"session_id": session_id, "up_to": ids[0]}

    admin = people.admin("root")

    matrix = auth_matrix(api, people, "post", "/api/messages/mark-read", body=body)
    by_admin = api.post("/api/messages/mark-read", admin, body=body)
    unknown = api.post("/api/messages/mark-read", admin,
                       body={"session_id": session_id, "up_to": "0000000000000000000deadbeef"})

    assert matrix == {"no_token": 401, "visitor": FORBIDDEN, "agent": FORBIDDEN}
    assert (by_admin.status_code, by_admin.json_body["updated"]) == (200, 1)
    assert (unknown.status_code, unknown.json_body["error"]) == (404, "not_found")
