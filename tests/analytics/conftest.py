"""The scripted world, played once per module at exact times through the public services."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
from chalice.test import Client

from chalicelib import clock
from chalicelib.services import agents, assignment, chat, tokens
from chalicelib.services.assignment import sweeps
from chalicelib.services.tokens import Principal
from tests.analytics.script import AGENTS, STATUS_PLAN, Conversation, at, day_script
from tests.conftest import configure_sim, reset_tables

PASSWORD = "correct horse battery"


class FrozenTime:
    """Stands in for the ``time`` module inside ``chalicelib.clock``: time passes only when told."""

    def __init__(self, epoch: float) -> None:
        self.now = epoch

    def time(self) -> float:
        return self.now

    def time_ns(self) -> int:
        return int(self.now * 1e9)


@dataclass
class World:
    today: date
    names: dict[str, str]  # agent key -> agent_id
    tokens: dict[str, str]  # "admin", agent keys, "visitor"
    script: list[Conversation] = field(default_factory=list)
    frozen: FrozenTime | None = None

    def headers(self, who: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}

    def day(self, days_ago: int) -> date:
        return self.today - timedelta(days=days_ago)


def _agent(world: World, key: str) -> Principal:
    return Principal(world.names[key], "agent", "agent", key)


def play(world: World, script: list[Conversation]) -> None:
    """Run every step of ``script`` (and the agents' status plan of its days) in time order."""
    steps: list[tuple[datetime, int, object]] = []
    for day in sorted({c.start.date() for c in script}):
        for key, plan in STATUS_PLAN.items():
            for hhmm, status in plan:
                steps.append((at(day, hhmm), 0,
                              lambda k=key, s=status: assignment.set_status(world.names[k], s)))
    for n, c in enumerate(script):
        visitor = Principal(f"v_script_{len(world.script) + n}", "visitor", "visitor", None)
        state: dict[str, str] = {}

        def offset(seconds: int, c=c) -> datetime:
            return c.start + timedelta(seconds=seconds)

        steps.append((c.start, 1, lambda v=visitor, s=state: s.update(
            id=chat.start_session_for(v.user_id, None).session.session_id)))
        for i, (when, sender, who) in enumerate(c.messages):
            speaker = visitor if sender == "visitor" else _agent(world, who)
            steps.append((offset(when), 2, lambda p=speaker, s=state, i=i: chat.send_message(
                p, s["id"], f"{s['id']}-m{i}", "hello")))
        if c.accept_after is not None:
            steps.append((offset(c.accept_after), 1, lambda s=state, c=c: assignment.accept_session(
                s["id"], world.names[c.agent])))
        if c.transfer_at is not None:
            def transfer(s=state, c=c) -> None:
                assignment.agent_heartbeat(world.names[c.transfer_to])
                assignment.transfer(s["id"], world.names[c.transfer_to], world.names[c.agent])
            steps.append((offset(c.transfer_at), 1, transfer))
        if c.kind == "abandoned":
            ender = lambda: sweeps.sweep_customers(assignment.SweepReport(), sweeps.Deadline(budget_seconds=60))  # noqa: E731
        elif c.kind == "agent_ends":
            ender = lambda s=state, c=c: chat.end_session(_agent(world, c.agent), s["id"])  # noqa: E731
        else:
            ender = lambda s=state, v=visitor: chat.end_session(v, s["id"])  # noqa: E731
        steps.append((offset(c.end_after), 3, ender))
        if c.rating is not None:
            steps.append((offset(c.end_after + 10), 4, lambda s=state, v=visitor, c=c: chat.rate_session(
                v, s["id"], c.rating, None)))
    for moment, _, step in sorted(steps, key=lambda s: (s[0], s[1])):
        world.frozen.now = moment.timestamp()
        step()
    world.script.extend(script)


@pytest.fixture(scope="module")
def world():
    """Nine and ten days ago busy days with short waits; the last three days quieter, with longer waits."""
    # A module fixture is set up before the per-test sim switch: choose the mode here, or the world
    # is played under whatever the worker's previous test left (the aws sim's lag is real time).
    configure_sim(os.environ.get("KEFU_SIM") or "off")
    reset_tables()
    patch = pytest.MonkeyPatch()
    frozen = FrozenTime(time.time())
    patch.setattr(clock, "time", frozen)
    clock.reset()
    today = datetime.now(UTC).date()
    names, issued = {}, {}
    for key in AGENTS:
        agent = agents.create_agent(key, PASSWORD, key)
        names[key] = agent.agent_id
        issued[key] = tokens.issue(Principal(agent.agent_id, "agent", "agent", key))[0]
    admin = agents.create_agent("boss", PASSWORD, "Boss", role="admin")
    issued["admin"] = tokens.issue(Principal(admin.agent_id, "agent", "admin", "Boss"))[0]
    issued["visitor"] = tokens.issue(Principal("v_outsider", "visitor", "visitor", None))[0]
    w = World(today=today, names=names, tokens=issued, frozen=frozen)
    for days_ago in (10, 9):
        play(w, day_script(w.day(days_ago), slot_minutes=20, wait_bonus=0, count=24))
    for days_ago in (3, 2, 1):
        play(w, day_script(w.day(days_ago), slot_minutes=35, wait_bonus=100, count=13))
    frozen.now = time.time()
    try:
        yield w
    finally:
        patch.undo()


@pytest.fixture(scope="module")
def client(world):
    from app import app

    with Client(app) as test_client:
        yield test_client
