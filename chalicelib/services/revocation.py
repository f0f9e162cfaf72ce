"""Token revocation: a token generation per user, and the check every authenticated call makes.

Every agent and visitor record holds ``token_gen``; a token carries the generation its user had when
it was issued (claim ``gen``). Revoking adds one to the record's generation, so every token issued
before stops working: a role or password change, disabling or deleting an agent, and an admin's
``revoke_tokens`` all do. The generation is raised from the value read, under the condition that it
is still that value (``raise_generation``), never by a blind ``ADD``: a retry after a lost answer
raises it once. A deleted user, or a disabled agent, has no current generation at all.

The REST authorizer and the WebSocket handlers ask ``is_current`` on every call. It reads the
record through a per-container cache of at most ``KEFU_REVOCATION_CACHE`` seconds (30), so the
common case costs no DynamoDB call; API Gateway caches the authorizer's answer for 30 s more
(``auth_guard``), so a revocation made in another container takes effect within 60 s. The container
that revokes forgets its own cached entry at once.
"""

from __future__ import annotations

import threading
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.errors import NotFound, Unauthorized
from chalicelib.models import AgentModel, VisitorModel
from chalicelib.models.base import conditional, get_or_none
from chalicelib.services.tokens import Principal

_lock = threading.Lock()
_cache: dict[tuple[str, str], tuple[float, int | None]] = {}  # (typ, user_id) -> (read at, gen)


def _model_of(typ: str) -> type[AgentModel] | type[VisitorModel]:
    return AgentModel if typ == "agent" else VisitorModel


def _read_generation(typ: str, user_id: str) -> int | None:
    """The user's current token generation; None when they are gone or (agents) disabled.

    Strongly consistent: an eventually consistent read right after sign-up may miss the new record,
    and that answer would be cached."""
    try:
        if typ == "agent":
            agent = AgentModel.get(user_id, consistent_read=True,
                                   attributes_to_get=["agent_id", "token_gen", "disabled"])
            return None if agent.disabled else int(agent.token_gen or 0)
        visitor = VisitorModel.get(user_id, consistent_read=True,
                                   attributes_to_get=["visitor_id", "token_gen"])
        return int(visitor.token_gen or 0)
    except DoesNotExist:
        return None


def current_generation(typ: str, user_id: str) -> int | None:
    """``_read_generation`` through the per-container cache."""
    now = clock.epoch()
    key = (typ, user_id)
    with _lock:
        cached = _cache.get(key)
    if cached is not None and now - cached[0] < get_config().revocation_cache_seconds:
        return cached[1]
    generation = _read_generation(typ, user_id)
    with _lock:
        _cache[key] = (now, generation)
    return generation


def is_current(principal: Principal) -> bool:
    """True while the user exists, is not disabled, and has not revoked this token's generation."""
    generation = current_generation(principal.typ, principal.user_id)
    return generation is not None and principal.gen >= generation


def ensure_current(principal: Principal) -> None:
    if not is_current(principal):
        raise Unauthorized("token revoked")


def forget(typ: str, user_id: str) -> None:
    """Drop this container's cached generation of a user (after changing it here)."""
    with _lock:
        _cache.pop((typ, user_id), None)


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def raise_generation(model: type[AgentModel] | type[VisitorModel], item: Any) -> tuple[Any, Any]:
    """The action that raises ``item``'s token generation by one from the value read, and the
    condition that the stored generation is still that value. Not an ``ADD``: sent again after a
    lost answer, the write cannot apply twice; after a concurrent revoke it fails instead."""
    read = int(item.token_gen or 0)
    unchanged = model.token_gen == read
    if read == 0:
        unchanged |= model.token_gen.does_not_exist()  # written before records carried a generation
    return model.token_gen.set(read + 1), unchanged


def revoke(typ: str, user_id: str) -> int:
    """Invalidate every token issued to the user so far; returns the new generation."""
    model = _model_of(typ)
    exists = AgentModel.agent_id.exists() if typ == "agent" else VisitorModel.visitor_id.exists()
    try:
        item = get_or_none(model, user_id)
        if item is None:
            raise NotFound(f"no {typ} {user_id}")
        bump, unchanged = raise_generation(model, item)
        if conditional(lambda: item.update(actions=[bump], condition=exists & unchanged)):
            return int(item.token_gen)
        # The generation moved past the one read (this call's own write whose answer was lost, or
        # a concurrent revoke): every token issued before this call is revoked either way.
        stored = get_or_none(model, user_id)
        if stored is None:
            raise NotFound(f"no {typ} {user_id}")
        return int(stored.token_gen)
    finally:
        forget(typ, user_id)
