"""/api/agents: my profile and status; admins manage accounts."""

from chalice import Blueprint, Response

from chalicelib.api.auth_guard import agent_auth, any_auth, current_principal, require_admin
from chalicelib.api.responses import json_response, parse_body, route
from chalicelib.errors import Conflict
from chalicelib.services import access, agents, assignment

bp = Blueprint(__name__)


@route(bp, "/api/agents/me", methods=["GET"], authorizer=agent_auth,
       answers={200: "Agent"}, errors=(404,))
def me():
    principal = current_principal(bp)
    return json_response(agents.get_agent(principal.user_id).to_public())


@route(bp, "/api/agents/me/status", methods=["PUT"], authorizer=agent_auth,
       body="StatusBody", answers={200: "Agent"}, errors=(404, 409))
def set_my_status():
    principal = current_principal(bp)
    from chalicelib.api.bodies import StatusBody

    body = parse_body(bp, StatusBody)
    return json_response(assignment.set_status(principal.user_id, body.status).to_public())


@route(bp, "/api/agents", methods=["POST"], authorizer=agent_auth,
       body="CreateAgentBody", answers={201: "Agent"}, errors=(403, 409))
def create_agent():
    require_admin(current_principal(bp))
    from chalicelib.api.bodies import CreateAgentBody

    body = parse_body(bp, CreateAgentBody)
    agent = agents.create_agent(body.username, body.password, body.display_name, body.role,
                                body.max_concurrent)
    return json_response(agent.to_public(), status=201)


@route(bp, "/api/agents", methods=["GET"], authorizer=agent_auth,
       answers={200: "AgentList"}, errors=(403,))
def list_agents():
    require_admin(current_principal(bp))
    return json_response({"agents": [a.to_public() for a in agents.list_agents()]})


@route(bp, "/api/agents/{agent_id}", methods=["PATCH"], authorizer=any_auth,
       body="PatchAgentBody", answers={200: "Agent"},
       errors=(403, 404, 409))
def patch_agent(agent_id: str):
    require_admin(current_principal(bp))
    from chalicelib.api.bodies import PatchAgentBody

    body = parse_body(bp, PatchAgentBody)
    agent = agents.get_agent(agent_id)
    disabled = bool(agent.disabled) if body.disabled is None else body.disabled
    if disabled and body.status in ("online", "away"):
        raise Conflict("a disabled agent stays offline")
    if body.disabled is False and agent.disabled:
        access.enable_agent(agent_id)
    if any(value is not None for value in (body.display_name, body.role, body.password, body.avatar_url)):
        change = agents.update_profile(agent_id, body.display_name, body.role, body.password, body.avatar_url)
        if change.revokes_tokens:
            access.after_revocation("agent", agent_id, "credentials_changed")
    if body.max_concurrent is not None:
        assignment.set_capacity(agent_id, body.max_concurrent)
    if body.status is not None:
        assignment.set_status(agent_id, body.status)
    if body.disabled and not agent.disabled:
        access.disable_agent(agent_id)
    return json_response(agents.get_agent(agent_id).to_public())


@route(bp, "/api/agents/{agent_id}", methods=["DELETE"], authorizer=any_auth,
       answers={204: None}, errors=(403, 404, 409))
def delete_agent(agent_id: str):
    require_admin(current_principal(bp))
    agents.get_agent(agent_id)
    access.delete_agent(agent_id)
    return Response(body="", status_code=204)
