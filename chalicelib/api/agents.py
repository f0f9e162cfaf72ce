"""/api/agents: my profile and status; admins manage accounts."""

from chalice import Blueprint

from chalicelib.api.auth_guard import agent_auth, current_principal, require_admin
from chalicelib.api.responses import json_response, parse_body, route
from chalicelib.services import agents, assignment

bp = Blueprint(__name__)









@route(bp, "/api/agents/me", methods=["GET"], authorizer=agent_auth)
def me():
    principal = current_principal(bp)
    return json_response(agents.get_agent(principal.user_id).to_public())


@route(bp, "/api/agents/me/status", methods=["PUT"], authorizer=agent_auth)
def set_my_status():
    principal = current_principal(bp)
    from chalicelib.api.bodies import StatusBody

    body = parse_body(bp, StatusBody)
    return json_response(assignment.set_status(principal.user_id, body.status).to_public())


@route(bp, "/api/agents", methods=["POST"], authorizer=agent_auth)
def create_agent():
    require_admin(current_principal(bp))
    from chalicelib.api.bodies import CreateAgentBody

    body = parse_body(bp, CreateAgentBody)
    agent = agents.create_agent(body.username, body.password, body.display_name, body.role,
                                body.max_concurrent)
    return json_response(agent.to_public(), status=201)


@route(bp, "/api/agents", methods=["GET"], authorizer=agent_auth)
def list_agents():
    require_admin(current_principal(bp))
    return json_response({"agents": [a.to_public() for a in agents.list_agents()]})


@route(bp, "/api/agents/{agent_id}", methods=["PATCH"], authorizer=agent_auth)
def patch_agent(agent_id: str):
    require_admin(current_principal(bp))
    from chalicelib.api.bodies import PatchAgentBody

    body = parse_body(bp, PatchAgentBody)
    agents.get_agent(agent_id)
    if body.display_name is not None or body.role is not None or body.password is not None:
        agents.update_profile(agent_id, body.display_name, body.role, body.password)
    if body.max_concurrent is not None:
        assignment.set_capacity(agent_id, body.max_concurrent)
    if body.status is not None:
        assignment.set_status(agent_id, body.status)
    return json_response(agents.get_agent(agent_id).to_public())
