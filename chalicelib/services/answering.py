"""Whether anyone can answer a customer now: inside business hours, and an agent online.

The widget asks before the customer writes (``GET /api/widget/availability``, on every widget
open); the first message asks again and opens the conversation waiting for an agent (``offline``)
when nobody can. The answer comes from the roster of online agents and their items, read
consistently (``assignment.online_agents``: one call when nobody is online, two otherwise), never
from an index: an index read lags a status change, and told customers nobody was there while an
agent had just come online.
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec

from chalicelib import clock
from chalicelib.services import assignment, business_hours, widget_settings


class Reason(enum.Enum):
    AVAILABLE = "available"  # an agent has a free slot
    BUSY = "busy"  # agents are online but full: the customer waits in the queue
    NO_AGENTS = "no_agents"  # nobody online
    CLOSED = "closed"  # outside business hours


class Answering(msgspec.Struct, frozen=True):
    reason: Reason
    within_hours: bool
    agents_online: bool
    next_open_at: str | None
    offline_text: str | None

    @property
    def can_answer(self) -> bool:
        return self.reason in (Reason.AVAILABLE, Reason.BUSY)

    def to_dict(self) -> dict[str, Any]:
        return {"can_answer": self.can_answer, "reason": self.reason.value, "within_hours": self.within_hours,
                "agents_online": self.agents_online, "next_open_at": self.next_open_at,
                "offline_text": self.offline_text, "checked_at": clock.iso()}


def who_can_answer() -> Answering:
    """Now: closed, nobody online, everyone busy, or someone free (cheapest question first)."""
    settings = widget_settings.current().document
    hours = settings.get("business_hours")
    now = clock.now()
    within = business_hours.is_open(hours, now)
    free = online = False
    for agent in assignment.online_agents():  # stops at the first free agent
        online = online or assignment.is_live(agent)
        if assignment.is_available(agent):
            free = True
            break
    if not within:
        opens = business_hours.next_open(hours, now)
        reason = Reason.CLOSED
    else:
        opens = None
        reason = Reason.AVAILABLE if free else Reason.BUSY if online else Reason.NO_AGENTS
    return Answering(reason, within, online, clock.iso(opens) if opens else None, settings.get("offline_text"))
