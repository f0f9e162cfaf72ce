"""The one write every frame costs its sender: the per-user rate limit, the heartbeat, the socket
back on its owner's set, and what revocation needs, in one conditional ``UpdateItem`` on the
sender's own item (the agent or visitor).

The rate limit is a sliding log (the times of the frames allowed in the last window, ``msg_log``),
so it holds over *any* interval of its length, across containers: the write that records a frame
is conditioned on the log's version (``msg_version``) being the one the new log was computed
from. A container remembers the log it last wrote or saw (``container.Recent``), so a frame costs
one write, not a read and a write; when another container wrote in between, the condition fails
and DynamoDB's answer carries the stored log (``update_answering``), and the frame is computed
again from it. A log already full refuses the frame without a write: the frames it holds happened.
The write answers with the whole item (``ALL_NEW``): its token generation and ``disabled`` say on
every frame, without a read, whether the sender's token was revoked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.errors import RateLimited
from chalicelib.models import AgentModel, VisitorModel
from chalicelib.models.base import backoff, update_answering
from chalicelib.services.container import Recent
from chalicelib.services.tokens import Principal

MAX_ATTEMPTS = 12
LOG_MEMORY_SECONDS = 600.0

# (user type, user id) -> (msg_version, msg_log) as last written or seen by this container.
_logs: Recent[tuple[str, str], tuple[int, tuple[float, ...]]] = Recent(LOG_MEMORY_SECONDS)


@dataclass(frozen=True)
class Sender:
    """Whose frame it is: the user's item as the frame's write left it."""

    item: AgentModel | VisitorModel

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


def _refusal(recent: list[float], limit: int, window: float, now: float) -> RateLimited:
    oldest_blocking = recent[len(recent) - limit]
    retry_after = max(1, math.ceil(oldest_blocking + window - now))
    return RateLimited(f"more than {limit} messages in {window:g} s; retry in {retry_after} s",
                       retry_after=retry_after)


def count_frame(user_type: str, user_id: str, also: list | None = None) -> Sender | None:
    """Count one frame (or REST message) of the user against ``ws_rate_limit`` per
    ``ws_rate_window_seconds``, applying ``also`` (more update actions on the user's item) in the
    same write. ``RateLimited`` when the window is full (nothing written); None when the user no
    longer exists."""
    config = get_config()
    limit, window = config.ws_rate_limit, config.ws_rate_window_seconds
    model = owner_model(user_type)
    key = (user_type, user_id)
    known = _logs.get(key)
    for attempt in range(MAX_ATTEMPTS):
        if attempt > 1:
            clock.sleep(backoff(attempt, base=0.005, cap=0.2))  # racing frames of one user spread out
        now = round(clock.epoch(), 3)
        version, stamps = known if known is not None else (0, ())
        recent = sorted(s for s in stamps if s > now - window)
        if known is not None and len(recent) >= limit:
            raise _refusal(recent, limit, window, now)
        unchanged = model.msg_version == version if version else model.msg_version.does_not_exist()
        item = model(user_id)
        written = version + 1
        applied = update_answering(item, [model.msg_log.set([*recent, now]), model.msg_version.set(written),
                                          *(also or [])],
                                   model._hash_key_attribute().exists() & unchanged)
        if applied is None:
            _logs.forget(key)
            return None
        stored = (int(item.msg_version or 0), tuple(float(s) for s in item.msg_log or ()))
        _logs.put(key, stored)
        if applied or (stored[0] == written and now in stored[1]):  # or a lost answer's own write
            return Sender(item)
        known = stored
    raise RateLimited("too many simultaneous messages; retry in 1 s", retry_after=1)


def user_type_of(user_id: str) -> str:
    """Agents' ids start with ``a_``, visitors' with ``v_``."""
    return "agent" if user_id.startswith("a_") else "visitor"
