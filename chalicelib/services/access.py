"""Who may use kefu: disabling and deleting agents, and what follows a revocation.

A revocation (``revocation``) makes a user's earlier tokens fail on their next call; this module
also closes the sockets they hold now, and takes a disabled or deleted agent out of service: out of
the pool, offline, their customers handed to other agents (``assignment.set_status``).
"""

from __future__ import annotations

from chalicelib.errors import Conflict
from chalicelib.models import AgentModel
from chalicelib.observability import logger
from chalicelib.services import agents, assignment, operations, revocation


def after_revocation(user_type: str, user_id: str, reason: str) -> None:
    """Tokens of the user were just revoked here: forget the cached generation, close their sockets."""
    revocation.forget(user_type, user_id)
    operations.close_user_connections(user_id, reason)


def disable_agent(agent_id: str) -> AgentModel:
    """No more logins, every token revoked, sockets closed, offline with customers handed on."""
    agents.set_disabled(agent_id, True)
    after_revocation("agent", agent_id, "account_disabled")
    assignment.set_status(agent_id, "offline")
    logger.info("agent disabled", agent_id=agent_id)
    return agents.get_agent(agent_id)


def enable_agent(agent_id: str) -> AgentModel:
    """Let a disabled agent log in again (their old tokens stay revoked)."""
    agents.set_disabled(agent_id, False)
    revocation.forget("agent", agent_id)
    return agents.get_agent(agent_id)


def delete_agent(agent_id: str, attempts: int = 3) -> None:
    """Disable, hand every customer on, then delete the account and free its username."""
    disable_agent(agent_id)
    for _ in range(attempts):
        if agents.delete_account(agents.get_agent(agent_id)):
            revocation.forget("agent", agent_id)
            logger.info("agent deleted", agent_id=agent_id)
            return
        assignment.set_status(agent_id, "offline")  # a customer reached them meanwhile: hand on again
    raise Conflict("the agent still holds customers; try again")
