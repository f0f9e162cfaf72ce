"""Agents, visitors and their tokens: ``/api/agents``, ``/api/auth``, ``/api/visitors``, ``/api/ws/ticket``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.api.answers.common import Answer, Iso

Attribute = str | bool | int | float


class Agent(Answer):
    agent_id: str
    username: str
    display_name: str | None
    role: Literal["agent", "admin"]
    status: str
    status_reason: str | None = Field(default=None, description="why the agent went offline, when the system did it")
    max_concurrent: int
    active: int
    last_assigned_at: Iso | None
    created_at: Iso | None
    disabled: bool
    avatar_url: str | None = None


class AgentList(Answer):
    agents: list[Agent]


class Login(Answer):
    token: str
    expires_at: Iso
    agent: Agent


class VisitorProfile(Answer):
    """A visitor as they see themselves (and as ``identify`` left them)."""

    visitor_id: str
    name: str | None
    email: str | None
    email_verified: bool
    user_id: str | None
    verified: bool
    attributes: dict[str, Attribute]


class SignUp(Answer):
    """201 for a new visitor; with an identity (``user_id``) ``visitor`` is added, and a verified
    identity that has a record already answers 200 with that visitor's token."""

    visitor_id: str
    name: str | None
    token: str
    expires_at: Iso
    visitor: VisitorProfile | None = None


class Identified(Answer):
    """``switched``: the identity belongs to another visitor record, whose token this is (use it
    from now on)."""

    visitor: VisitorProfile
    switched: bool
    token: str | None = None
    expires_at: Iso | None = None


class WsTicket(Answer):
    """Opens one WebSocket (``?ticket=``), once, within ``expires_in`` seconds."""

    ticket: str
    expires_at: Iso
    expires_in: int
