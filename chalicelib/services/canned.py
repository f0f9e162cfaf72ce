"""Saved replies: the team's (admins manage them) and each agent's own; CRUD for the console's
``/`` picker. The text is stored as written; the console fills in ``{{customer.name}}`` and
``{{agent.name}}`` when it inserts a reply."""

from __future__ import annotations

import uuid

from chalicelib import clock
from chalicelib.errors import Forbidden, NotFound
from chalicelib.models import CannedResponseModel
from chalicelib.models.base import conditional, get_or_none, retrying
from chalicelib.models.canned import TEAM
from chalicelib.services.tokens import Principal

SCOPES = ("team", "personal")
MAX_PER_OWNER = 500


def _require_agent(principal: Principal) -> None:
    if not principal.is_agent:
        raise Forbidden("saved replies are for agents")


def _owner_of(principal: Principal, scope: str) -> str:
    if scope == "team":
        if not principal.is_admin:
            raise Forbidden("team replies are managed by admins")
        return TEAM
    return principal.user_id


def list_for(principal: Principal) -> list[CannedResponseModel]:
    """The team's replies and the caller's own, by shortcut."""
    _require_agent(principal)
    # Read consistently: the console lists again right after adding or deleting one.
    found = [*CannedResponseModel.query(TEAM, limit=MAX_PER_OWNER, consistent_read=True),
             *CannedResponseModel.query(principal.user_id, limit=MAX_PER_OWNER, consistent_read=True)]
    return sorted(found, key=lambda c: (c.shortcut, c.scope != "personal", c.canned_id))


def create(principal: Principal, scope: str, shortcut: str, text: str, title: str | None = None) -> CannedResponseModel:
    _require_agent(principal)
    owner = _owner_of(principal, scope)
    reply = CannedResponseModel(owner, f"{'t' if owner == TEAM else 'p'}_{uuid.uuid4().hex}", shortcut=shortcut,
                                title=title or None, text=text, created_by=principal.user_id, created_at=clock.iso())
    # A fresh id: a condition failure after a retry can only be this write's own lost answer.
    conditional(lambda: reply.save(condition=CannedResponseModel.canned_id.does_not_exist()), already_done=lambda: True)
    return reply


def _editable(principal: Principal, canned_id: str) -> CannedResponseModel:
    """The reply, if the caller may change it: a team reply for admins, a personal one for its
    owner (another agent's personal reply does not exist for them)."""
    _require_agent(principal)
    owner = _owner_of(principal, "team") if canned_id.startswith("t_") else principal.user_id
    reply = get_or_none(CannedResponseModel, owner, canned_id)
    if reply is None:
        raise NotFound(f"no saved reply {canned_id}")
    return reply


def update(principal: Principal, canned_id: str, shortcut: str | None = None, text: str | None = None,
           title: str | None = None) -> CannedResponseModel:
    reply = _editable(principal, canned_id)
    actions = [CannedResponseModel.updated_at.set(clock.iso())]
    if shortcut is not None:
        actions.append(CannedResponseModel.shortcut.set(shortcut))
    if text is not None:
        actions.append(CannedResponseModel.text.set(text))
    if title is not None:
        actions.append(CannedResponseModel.title.set(title) if title else CannedResponseModel.title.remove())
    if not conditional(lambda: reply.update(actions=actions, condition=CannedResponseModel.canned_id.exists())):
        raise NotFound(f"no saved reply {canned_id}")
    return reply


def delete(principal: Principal, canned_id: str) -> None:
    reply = _editable(principal, canned_id)
    retrying(reply.delete)  # deleting again is harmless
