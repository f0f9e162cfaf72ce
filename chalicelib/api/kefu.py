"""/api/kefu: the assignment endpoints existing clients call (paths are a contract)."""

from chalice import Blueprint

from chalicelib.api.auth_guard import agent_auth, current_principal, require_admin
from chalicelib.api.responses import int_param, json_response, query_params, route
from chalicelib.errors import NotFound
from chalicelib.services import assignment, chat, visitors

bp = Blueprint(__name__)
QUEUE_PAGE = 100


@route(bp, "/api/kefu/assign/{customer_id}", methods=["POST"], authorizer=agent_auth,
       answers={200: "Assignment", 202: "Queued"},
       errors=(404, 409))
def assign(customer_id: str):
    visitor = visitors.get_visitor(customer_id)
    current = assignment.get_assignment(customer_id)
    if current is not None:
        return json_response(_assigned_body(current.to_public()))
    state = chat.start_session_for(visitor.visitor_id, visitor.name)
    session = state.session
    if session.status == "active":
        return json_response({"customer_id": customer_id, "agent": {"id": session.agent_id,
                                                                    "name": session.agent_name},
                              "session_id": session.session_id, "assigned_at": session.assigned_at})
    return json_response({"customer_id": customer_id, "session_id": session.session_id,
                          "queued": True, "position": state.position}, status=202)


def _assigned_body(public: dict) -> dict:
    return {key: public[key] for key in ("customer_id", "agent", "session_id", "assigned_at")}


@route(bp, "/api/kefu/release/{customer_id}", methods=["POST"], authorizer=agent_auth,
       answers={200: "Released"},
       errors=(403, 404, 409))
def release(customer_id: str):
    principal = current_principal(bp)
    current = assignment.get_assignment(customer_id)
    if current is None:
        raise NotFound(f"customer {customer_id} has no agent")
    if not principal.is_admin and current.agent_id != principal.user_id:
        require_admin(principal)
    released = assignment.release_customer(customer_id, ended_by=principal.user_id,
                                           expected_agent=None if principal.is_admin else principal.user_id)
    return json_response({"customer_id": customer_id, "released_agent_id": released.agent_id,
                          "session_id": released.session_id})


@route(bp, "/api/kefu/customer/{customer_id}", methods=["GET"], authorizer=agent_auth,
       answers={200: "Assignment"}, errors=(404,))
def customer(customer_id: str):
    current = assignment.get_assignment(customer_id)
    if current is None:
        raise NotFound(f"customer {customer_id} has no agent")
    return json_response(current.to_public())


@route(bp, "/api/kefu/cleanup", methods=["POST"], authorizer=agent_auth,
       answers={200: "Cleanup"}, errors=(403,))
def cleanup():
    require_admin(current_principal(bp))
    return json_response(assignment.cleanup().to_dict())  # bounded by KEFU_CLEANUP_BUDGET (< 29 s)


@route(bp, "/api/kefu/queue", methods=["GET"], authorizer=agent_auth,
       query="QueueQuery", answers={200: "Queue"})
def queue():
    params = query_params(bp)
    limit = int_param(params, "limit", QUEUE_PAGE, 1, 500)
    after = int_param(params, "after", 0, -(10**18), 10**18) if "after" in params else None
    rows = assignment.queue_view(limit=limit + 1, after=after)
    more = len(rows) > limit
    rows = rows[:limit]
    body: dict = {"queue": rows}
    if more:
        body["next"] = rows[-1]["ticket"]  # pass as ?after= for the next page
    return json_response(body)


@route(bp, "/api/kefu/agents", methods=["GET"], authorizer=agent_auth,
       answers={200: "AgentLoads"})
def kefu_agents():
    return json_response({"agents": assignment.agents_overview()})
