"""The one write every frame costs its sender: the per-user message budget, the heartbeat, the
socket back on its owner's set, and what revocation needs, in one conditional ``UpdateItem`` on the
sender's own item (the agent or visitor).

The budget is the one every limit uses (``budgets``: a token bucket in its GCRA form, ``size`` frames
at once, then one every ``window / size`` seconds; a refusal is ``RateLimited`` with
``retry_after``), kept on the user's item (``msg_tat``) instead of a limits item of its own, so a
frame costs one write, not two or three. The write is conditioned on the budget's version
(``msg_version``) being the one the new ``msg_tat`` was computed from. A container remembers what it
last wrote or saw (``container.Recent``), so a frame costs one write, not a read and a write; when
another container wrote in between, the condition fails and DynamoDB's answer carries the stored
values (``update_answering``), and the frame is decided again from them by ``budgets``' own two
writes (busy, idle), which simultaneous frames pass without conflicting. A budget this container
saw spent refuses the frame without a write (``msg_tat`` only grows: what it saw is at most what is
stored). Each write records its request id among the last few (``msg_requests``): a retry after a
lost answer that meets its own write counts once, even when other frames landed meanwhile. Only a
write conditioned on the version it read replaces the list (with the last few ids it knows, all of
them); any other appends its id, so it never drops one it did not see (before, a write computed from
an older answer could drop a lost answer's id, and that frame was refused or counted twice). Appends
stop at ``REQUESTS_BOUND`` ids; a write that finds that many replaces the list under the version
condition.
The write answers with the whole item (``ALL_NEW``): its token generation and ``disabled`` say on
every frame, without a read, whether the sender's token was revoked.

A visitor's budget of new conversations lives on their item too (``conv_tat``), under the same
version and request ids: the exact write of a ``start_session`` frame spends it as well, when this
container knows it has room (``count_frame``'s ``conversation``); otherwise, and for a conversation
opened over REST, ``spend_conversation`` spends it in a write of its own.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import msgspec
from pynamodb.expressions.condition import size

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.errors import RateLimited
from chalicelib.models import AgentModel, VisitorModel
from chalicelib.models.base import backoff, update_answering
from chalicelib.services.budgets import Budget
from chalicelib.services.container import Recent
from chalicelib.services.tokens import Principal

MAX_ATTEMPTS = 12
MEMORY_SECONDS = 600.0
REQUESTS_KEPT = 8  # request ids of the last writes, so a lost answer's retry recognises its own
REQUESTS_BOUND = 16  # appended ids (writes not conditioned on the version) stop here


class _Known(msgspec.Struct, frozen=True):
    """The budget on a user's item as this container last wrote or saw it."""

    version: int
    tat: float | None
    requests: tuple[str, ...]
    conv_tat: float | None = None  # a visitor's budget of new conversations


# (user type, user id) -> the budget as last written or seen by this container.
_known: Recent[tuple[str, str], _Known] = Recent(MEMORY_SECONDS)


class Sender(msgspec.Struct, frozen=True):
    """Whose frame it is: the user's item as the frame's write left it."""

    item: AgentModel | VisitorModel
    conversation_spent: bool = False  # the frame's write also spent a new conversation's budget

    @property
    def user_id(self) -> str:
        return self.item.agent_id if isinstance(self.item, AgentModel) else self.item.visitor_id

    @property
    def sockets(self) -> set[str]:
        return set(self.item.socket_ids or ())

    def is_current(self, principal: Principal) -> bool:
        """The token is not revoked: the user is not disabled and its generation is current."""
        return not getattr(self.item, "disabled", None) and principal.gen >= int(self.item.token_gen or 0)


def owner_model(user_type: str) -> type[AgentModel] | type[VisitorModel]:
    return VisitorModel if user_type == "visitor" else AgentModel


def message_budget() -> Budget:
    """``ws_rate_limit`` frames per ``ws_rate_window_seconds`` per user, REST messages included."""
    config = get_config()
    return Budget("messages", config.ws_rate_limit, config.ws_rate_window_seconds)


def _refusal(budget: Budget, tat: float, now: float) -> RateLimited:
    wait = max(1, math.ceil(tat - now - budget.slack))
    return RateLimited(f"too many {budget.what}; retry in {wait} s", retry_after=wait)


def _known_of(item: AgentModel | VisitorModel) -> _Known:
    conv_tat = getattr(item, "conv_tat", None)
    return _Known(int(item.msg_version or 0), float(item.msg_tat) if item.msg_tat is not None else None,
                  tuple(item.msg_requests or ()), float(conv_tat) if conv_tat is not None else None)


def count_frame(user_type: str, user_id: str, also: list | None = None,
                conversation: Budget | None = None) -> Sender | None:
    """Take one frame (or REST message) of the user from their message budget
    (``message_budget``), applying ``also`` (more update actions on the user's item) in the same
    write. ``RateLimited`` when the budget is spent (nothing written); None when the user no longer
    exists. ``conversation`` (a visitor's budget of new conversations): spent in the same write
    when it is exact and this container knows the budget has room (``Sender.conversation_spent``);
    otherwise left to ``spend_conversation``.

    The first write is exact: computed from the budget as this container knows it, on the
    condition that its version is unchanged. When another frame wrote in between (the answer
    carries what it wrote), the next writes are ``budgets``' two: a busy bucket takes one more
    interval while it stays within the window, an idle one starts from now, so simultaneous frames
    of one user add up without conflicting, and none passes the budget."""
    budget = message_budget()
    model = owner_model(user_type)
    key = (user_type, user_id)
    known = _known.get(key)
    request_id = _request_id()
    exists = model._hash_key_attribute().exists()
    for attempt in range(MAX_ATTEMPTS):
        if attempt > 2:
            clock.sleep(backoff(attempt, base=0.005, cap=0.2))  # an idle bucket turning busy meanwhile
        now = clock.epoch()
        seen = known or _Known(0, None, ())
        if known is not None and not _has_room(seen.tat, budget, now):
            raise _refusal(budget, seen.tat, now)
        spends_conversation = False
        if attempt == 0 or len(seen.requests) >= REQUESTS_BOUND:
            tat = max(seen.tat or now, now) + budget.interval
            actions = [model.msg_tat.set(tat), model.msg_version.set(seen.version + 1),
                       _replaced_requests(model, seen, request_id)]
            condition = exists & _unchanged(model, seen)
            if conversation is not None and model is VisitorModel and _has_room(seen.conv_tat, conversation, now):
                # exact too: every write of conv_tat moves the version this write is conditioned on
                actions.append(VisitorModel.conv_tat.set(max(seen.conv_tat or now, now) + conversation.interval))
                spends_conversation = True
        else:
            take, holds = _take(model.msg_tat, seen.tat, budget, now)
            appended, room = _appended_request(model, request_id)
            actions = [take, model.msg_version.add(1), appended]
            condition = exists & holds & room & ~model.msg_requests.contains(request_id)
        item = model(user_id)
        written = _write(key, item, [*actions, *(also or [])], condition)
        if written is None:
            return None
        applied, known = written
        if applied or request_id in known.requests:  # or a lost answer's own write
            return Sender(item, conversation_spent=spends_conversation)
    raise RateLimited(f"too many simultaneous {budget.what}; retry in 1 s", retry_after=1)


def _request_id() -> str:
    """16 hex digits: unique among a user's last few writes, and 16 of them on the item take what 8
    full uuids did (an agent's item stays under one write unit of 1 KB)."""
    return uuid.uuid4().hex[:16]


def _unchanged(model: type[AgentModel] | type[VisitorModel], seen: _Known) -> Any:
    """The budget's version is still the one ``seen`` holds."""
    return model.msg_version == seen.version if seen.version else model.msg_version.does_not_exist()


def _replaced_requests(model: type[AgentModel] | type[VisitorModel], seen: _Known, request_id: str) -> Any:
    """The last request ids ``seen`` holds and ``request_id``: for a write conditioned on ``seen``'s
    version only (then ``seen`` holds every id stored)."""
    return model.msg_requests.set([*seen.requests[-(REQUESTS_KEPT - 1):], request_id])


def _appended_request(model: type[AgentModel] | type[VisitorModel], request_id: str) -> tuple[Any, Any]:
    """``request_id`` appended to the stored ids, and the condition that they are fewer than
    ``REQUESTS_BOUND``: for a write that may not have seen them all."""
    stored = model.msg_requests
    return (stored.set((stored | []).append([request_id])),
            stored.does_not_exist() | (size(stored) < REQUESTS_BOUND))


def _has_room(tat: float | None, budget: Budget, now: float) -> bool:
    return tat is None or tat <= now + budget.slack


def _take(attribute: Any, tat: float | None, budget: Budget, now: float) -> tuple[Any, Any]:
    """``budgets``' two writes of the bucket kept in ``attribute``, the one ``tat`` (as last seen)
    calls for: the update action and its condition. A busy bucket takes one more interval while it
    stays within the window; an idle one (or one never used) starts from now."""
    if tat is not None and tat > now:
        return attribute.set(attribute + budget.interval), (attribute > now) & (attribute <= now + budget.slack)
    return attribute.set(now + budget.interval), attribute.does_not_exist() | (attribute <= now)


def _write(key: tuple[str, str], item: AgentModel | VisitorModel, actions: list,
           condition: Any) -> tuple[bool, _Known] | None:
    """One conditional write of the user's item; whether it applied and the budget as it left it
    (or as it stood when refused), remembered. None when the user no longer exists."""
    applied = update_answering(item, actions, condition)
    if applied is None:
        _known.forget(key)
        return None
    known = _known_of(item)
    _known.put(key, known)
    return applied, known


def spend_conversation(visitor_id: str, budget: Budget) -> None:
    """Take one new conversation from the visitor's budget (``conv_tat`` on their item), in a
    write of its own: ``budgets``' two forms (a busy bucket takes one more interval while it stays
    within the window, an idle one starts from now), each moving the version ``count_frame``'s
    exact write is conditioned on, and appending its request id to the stored ones (a container
    that read nothing writes only to an item never written so; one that read a full list replaces
    it under the version it read). ``RateLimited`` when it is spent.
    A visitor who no longer exists has nothing to spend (their token is refused elsewhere)."""
    key = ("visitor", visitor_id)
    known = _known.get(key)
    request_id = _request_id()
    exists = VisitorModel.visitor_id.exists()
    model = VisitorModel
    for attempt in range(MAX_ATTEMPTS):
        if attempt > 2:
            clock.sleep(backoff(attempt, base=0.005, cap=0.2))
        now = clock.epoch()
        seen = known or _Known(0, None, ())
        if known is not None and not _has_room(seen.conv_tat, budget, now):
            raise _refusal(budget, seen.conv_tat, now)
        if known is None:  # nothing seen: only an item never written so (else its answer fills ``known``)
            take, holds = model.conv_tat.set(now + budget.interval), model.msg_version.does_not_exist()
            requests = _replaced_requests(model, seen, request_id)
        else:
            take, holds = _take(model.conv_tat, seen.conv_tat, budget, now)
            if len(seen.requests) >= REQUESTS_BOUND:
                requests, room = _replaced_requests(model, seen, request_id), _unchanged(model, seen)
            else:
                requests, room = _appended_request(model, request_id)
            holds = holds & room
        written = _write(key, model(visitor_id), [take, model.msg_version.add(1), requests],
                         exists & holds & ~model.msg_requests.contains(request_id))
        if written is None:
            return
        applied, known = written
        if applied or request_id in known.requests:
            return
    raise RateLimited(f"too many simultaneous {budget.what}; retry in 1 s", retry_after=1)


def user_type_of(user_id: str) -> str:
    """Agents' ids start with ``a_``, visitors' with ``v_``."""
    return "agent" if user_id.startswith("a_") else "visitor"
