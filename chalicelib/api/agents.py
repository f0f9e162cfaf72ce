"""/api/agents: my profile and status; admins manage accounts."""

from typing import Literal

from chalice import Blueprint
from pydantic import BaseModel, Field

from chalicelib.api.auth_guard import agent_auth, current_principal, require_admin
from chalicelib.api.responses import json_response, parse_body, route
from chalicelib.services import agents, assignment

bp = Blueprint(__name__)

Username = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")


class StatusBody(BaseModel):
    status: Literal["online", "away", "offline"]


class CreateAgentBody(BaseModel):
    username: str = Username
    password: str = Field(min_length=8, max_length=256)
    display_name: str | None = Field(default=None, max_length=100)
    role: Literal["agent", "admin"] = "agent"
    max_concurrent: int | None = Field(default=None, ge=0, le=1000)


class PatchAgentBody(BaseModel):
    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    role: Literal["agent", "admin"] | None = None
    password: str | None = Field(default=None, min_length=8, max_length=256)
    max_concurrent: int | None = Field(default=None, ge=0, le=1000)
    status: Literal["online", "away", "offline"] | None = None


@route(bp, "/api/agents/me", methods=["GET"], authorizer=agent_auth)
def me():
    principal = current_principal(bp)
    return json_response(agents.get_agent(principal.user_id).to_public())


@route(bp, "/api/agents/me/status", methods=["PUT"], authorizer=agent_auth)
def set_my_status():
    principal = current_principal(bp)
    body = parse_body(bp, StatusBody)
    return json_response(assignment.set_status(principal.user_id, body.status).to_public())


@route(bp, "/api/agents", methods=["POST"], authorizer=agent_auth)
def create_agent():
    require_admin(current_principal(bp))
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
    body = parse_body(bp, PatchAgentBody)
    agents.get_agent(agent_id)
    if body.display_name is not None or body.role is not None or body.password is not None:
        agents.update_profile(agent_id, body.display_name, body.role, body.password)
    if body.max_concurrent is not None:
        assignment.set_capacity(agent_id, body.max_concurrent)
    if body.status is not None:
        assignment.set_status(agent_id, body.status)
    return json_response(agents.get_agent(agent_id).to_public())
