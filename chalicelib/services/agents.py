"""Agents: accounts, login, profile. Availability and capacity belong to ``assignment``."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from pynamodb.exceptions import DoesNotExist

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from chalicelib.models import AgentModel, CounterModel
from chalicelib.models.agent import DIRECTORY, load_key
from chalicelib.models.base import CONDITION_FAILED, Transaction, conditional, get_or_none, rounds, stored_as
from chalicelib.models.batch import get_in_order
from chalicelib.services import passwords, revocation, tokens
from chalicelib.services.assignment import roster
from chalicelib.services.tokens import Principal

ROLES = ("agent", "admin")
PROFILE_ROUNDS = 4
STATUSES = ("online", "away", "offline")


class ProfileChange(msgspec.Struct, frozen=True):
    agent: AgentModel
    revokes_tokens: bool  # the change (role, password) invalidated every earlier token


def _username_claim(username: str) -> str:
    return f"username#{username.lower()}"


def create_agent(username: str, password: str, display_name: str | None = None,
                 role: str = "agent", max_concurrent: int | None = None) -> AgentModel:
    """A new agent; usernames are unique (case-insensitive), enforced by a claim item written in
    the same transaction, since a GSI cannot be checked atomically."""
    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {ROLES}")
    capacity = get_config().default_agent_capacity if max_concurrent is None else max_concurrent
    if capacity < 0:
        raise ValidationFailed("max_concurrent must not be negative")
    agent_id = f"a_{uuid.uuid4().hex}"
    agent = AgentModel(
        agent_id,
        username=username,
        password_hash=passwords.hash_password(password),
        display_name=display_name or username,
        role=role,
        status="offline",
        max_concurrent=capacity,
        active_count=0,
        load_key=load_key(0, capacity, None, agent_id),
        created_at=clock.iso(),
    )
    claim = CounterModel(_username_claim(username), ref=agent_id)
    tx = Transaction()
    tx.put("claim", claim, condition=CounterModel.name.does_not_exist())
    tx.put("agent", agent, condition=AgentModel.agent_id.does_not_exist())
    failed = tx.commit()
    if failed:
        raise Conflict(f"username {username!r} is taken")
    return agent


def get_agent(agent_id: str, consistent: bool = True) -> AgentModel:
    try:
        return AgentModel.get(agent_id, consistent_read=consistent)
    except DoesNotExist as e:
        raise NotFound(f"no agent {agent_id}") from e


def exists(agent_id: str) -> bool:
    try:
        AgentModel.get(agent_id, attributes_to_get=["agent_id"], consistent_read=True)
    except DoesNotExist:
        return False
    return True


def find_by_username(username: str) -> AgentModel | None:
    """Through the username claim, read consistently (the ``by_username`` index lags: an agent
    just created could not log in); claims written before they carried the id use the index,
    whose row is read again consistently (it still lists an agent deleted a moment ago)."""
    claim = get_or_none(CounterModel, _username_claim(username))
    if claim is not None and claim.ref:
        agent_id = claim.ref
    else:
        listed = next(iter(AgentModel.by_username.query(username, limit=1, attributes_to_get=["agent_id"])), None)
        if listed is None:
            return None
        agent_id = listed.agent_id
    agent = get_or_none(AgentModel, agent_id)
    return agent if agent is not None and agent.username == username else None


def authenticate(username: str, password: str) -> dict:
    """Token and profile for valid credentials; the same 401 whichever part was wrong."""
    agent = find_by_username(username)
    if agent is None:
        passwords.verify_password(password, passwords.dummy_hash())
        raise Unauthorized("invalid username or password")
    if not passwords.verify_password(password, agent.password_hash) or agent.disabled:
        raise Unauthorized("invalid username or password")
    token, expires_at = tokens.issue(Principal(agent.agent_id, "agent", agent.role, agent.display_name,
                                               gen=int(agent.token_gen or 0)))
    return {"token": token, "expires_at": clock.iso_from_epoch(expires_at), "agent": agent.to_public()}


def list_agents() -> list[AgentModel]:
    """Every agent, by username. The directory index says who the agents are; each one is then
    read consistently (BatchGetItem), since the index may show old values (a capacity changed a
    moment ago) or an agent deleted a moment ago. An agent created a moment ago may be missing
    until the index catches up: whoever created it has it from ``create_agent``."""
    listed = [a.agent_id for a in AgentModel.in_directory.query(DIRECTORY, attributes_to_get=["agent_id"])]
    return get_in_order(AgentModel, listed)


def _write(agent: AgentModel, actions: list, condition: Any, stamp: str) -> AgentModel | None:
    """Apply an update that sets ``updated_at = stamp``: the agent as written, or None when its
    condition failed (the agent changed since the read). A retry after a lost answer recognises
    the write by its stamp."""
    found: list[AgentModel] = []

    def stamped() -> bool:
        stored = stored_as(AgentModel, agent.agent_id, {"updated_at": stamp})
        if stored is not None:
            found.append(stored)
        return stored is not None

    if not conditional(lambda: agent.update(actions=actions, condition=condition), already_done=stamped):
        return None
    return found[0] if found else agent  # else PynamoDB refreshed it from the ALL_NEW response


def _with_revocation(agent: AgentModel, actions: list, condition: Any) -> tuple[list, Any]:
    bump, unchanged = revocation.raise_generation(AgentModel, agent)
    return [*actions, bump], condition & unchanged


def update_profile(agent_id: str, display_name: str | None = None, role: str | None = None,
                   password: str | None = None, avatar_url: str | None = None) -> ProfileChange:
    """Change what does not affect assignment (capacity and status go through ``assignment``).

    A new role or password revokes every token issued so far, in the same write (see
    ``revocation``); ``revokes_tokens`` on the result says whether it did."""
    if role is not None and role not in ROLES:
        raise ValidationFailed(f"role must be one of {ROLES}")
    password_hash = passwords.hash_password(password) if password is not None else None
    # A round whose write was ambiguous may have revoked, and the next round then reads the new
    # role already stored (its stamp may be overwritten by a presence write): still a revocation.
    may_have_revoked = False
    for _ in rounds(PROFILE_ROUNDS):
        agent = get_agent(agent_id)
        stamp = clock.iso()
        actions = [AgentModel.updated_at.set(stamp)]
        condition = AgentModel.agent_id.exists()
        if display_name is not None:
            actions.append(AgentModel.display_name.set(display_name))
        if avatar_url is not None:  # "" removes it
            actions.append(AgentModel.avatar_url.set(avatar_url) if avatar_url else AgentModel.avatar_url.remove())
        if role is not None:
            actions.append(AgentModel.role.set(role))
        if password_hash is not None:
            actions.append(AgentModel.password_hash.set(password_hash))
        revoke = password is not None or (role is not None and role != agent.role)
        if revoke:
            actions, condition = _with_revocation(agent, actions, condition)
        may_have_revoked = may_have_revoked or revoke
        written = _write(agent, actions, condition, stamp)
        if written is not None:
            return ProfileChange(written, revokes_tokens=may_have_revoked)
    raise Conflict("the agent is changing right now; try again")


def set_disabled(agent_id: str, disabled: bool) -> AgentModel:
    """Disable (no login, every token revoked) or enable an agent again; leaving the pool and
    handing customers on is ``access.disable_agent``'s business."""
    for _ in rounds(PROFILE_ROUNDS):
        agent = get_agent(agent_id)
        stamp = clock.iso()
        actions = [AgentModel.updated_at.set(stamp)]
        condition = AgentModel.agent_id.exists()
        if disabled:
            actions, condition = _with_revocation(agent, [*actions, AgentModel.disabled.set(True)], condition)
        else:
            actions.append(AgentModel.disabled.remove())
        written = _write(agent, actions, condition, stamp)
        if written is not None:
            return written
    raise Conflict("the agent is changing right now; try again")


def delete_account(agent: AgentModel) -> bool:
    """Delete the agent and free their username, once they hold no customer; False when they
    still do (a customer reached them meanwhile)."""
    tx = Transaction()
    tx.delete("agent", AgentModel(agent.agent_id),
              condition=AgentModel.agent_id.exists() & (AgentModel.active_count == 0))
    tx.delete("claim", CounterModel(_username_claim(agent.username)))
    roster.add_membership(tx, agent.agent_id, "deleted")  # off the roster of who is online
    failed = tx.commit()
    if failed.get("agent") == CONDITION_FAILED:
        return False
    if failed:
        raise Conflict("the agent is changing right now; try again")
    return True


def ensure_admin(username: str, password: str) -> bool:
    """Create the admin agent unless an agent of that name exists; True when created."""
    if find_by_username(username) is not None:
        return False
    try:
        create_agent(username, password, display_name="Administrator", role="admin")
    except Conflict:
        return False
    return True
