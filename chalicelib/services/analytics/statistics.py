"""Statistics over a range of days (default: today), overall and per agent, with the live counts."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib import clock
from chalicelib.models import AgentModel, SessionModel
from chalicelib.models.batch import get_all
from chalicelib.services import assignment
from chalicelib.services.analytics import data, metrics
from chalicelib.services.analytics.periods import period, zone_of


def live() -> dict[str, int]:
    """Right now: customers waiting, sessions with an agent, agents online."""
    return {
        "queued": assignment.queue_length(),
        "active": SessionModel.by_status.count("active"),
        "agents_online": sum(1 for _ in assignment.online_agents()),
    }


def name_agents(per_agent: list[dict[str, Any]]) -> None:
    """Agents who held no session of the period (online only) are named from their own item."""
    unnamed = [row["agent_id"] for row in per_agent if not row.get("agent_name")]
    names = {a.agent_id: a.display_name for a in get_all(AgentModel, unnamed)} if unnamed else {}
    for row in per_agent:
        row["agent_name"] = row.get("agent_name") or names.get(row["agent_id"])


def statistics(first: date | None = None, last: date | None = None, tz: str | None = None,
               agent_id: str | None = None, with_live: bool = True) -> dict[str, Any]:
    """The figures of ``first``..``last`` (default: today in ``tz``), overall and per agent,
    plus the live counts."""
    tz = zone_of(tz)
    today = clock.now().astimezone(ZoneInfo(tz)).date()
    first = first or last or today
    last = last or first
    start, end = period(first, last, tz)
    body = metrics.compute(data.load_period(start, end), tz, agent_id)
    name_agents(body["per_agent"])
    body["partial"] = clock.now() < end
    if with_live:
        body["live"] = live()
    return body
