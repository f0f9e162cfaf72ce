"""The minute sweep (and ``POST /api/kefu/cleanup``): expiry, presence, departed customers, and
repair of any inconsistent state, bounded by a deadline.

Every step reads an index to find work and confirms each item with a consistent read before
acting; nothing is lowered from an index read alone (an agent's count is recounted from their
``customer_ids``, read consistently, as well as the index, whose lag has no bound; the queue
length is exact by construction, see ``queue``). One item's failure is logged and skipped, never
the whole sweep.

The deadline (the Lambda context's remaining time, or a budget for the REST call) is checked
before every item of every loop, and passed down into every effect that can grow (a hand-back,
dispatch, announcements), which stop at it too: a run overshoots it by one bounded step at most.
The agent walk reads the directory page by page and saves its cursor after each agent it
finishes, so a run stopped by the deadline, or killed, resumes where it stopped and nobody is
visited twice before everyone was visited once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.models import AgentModel, AssignmentModel, CounterModel, SessionModel
from chalicelib.models.assignment import SWEEP_SHARDS
from chalicelib.models.base import get_or_none, retrying
from chalicelib.models.batch import get_all
from chalicelib.models.session import QUEUE_POOL
from chalicelib.observability import logger
from chalicelib.services import connections, notify
from chalicelib.services.assignment import (
    claims,
    dispatch,
    lifecycle,
    positions,
    presence,
    queue,
    release,
    roster,
    slots,
)
from chalicelib.services.assignment.availability import heartbeat_cutoff, is_available
from chalicelib.services.assignment.deadline import Deadline
from chalicelib.services.assignment.effects import after_commit
from chalicelib.services.assignment.results import Release, SweepReport

CURSOR = "sweep-cursor"
PAGE = 100

T = TypeVar("T")


def _until(items: Iterable[T], deadline: Deadline, report: SweepReport) -> Iterator[T]:
    """``items`` while time is left: the deadline is checked before each one is fetched (so a
    lazily read index is read no further); stopping early marks the run incomplete."""
    iterator = iter(items)
    while True:
        if deadline.passed():
            report.complete = False
            return
        try:
            yield next(iterator)
        except StopIteration:
            return


def _failed(report: SweepReport, step: str, error: Exception) -> None:
    logger.exception("sweep step failed", step=step)
    report.errors.append({"step": step, "error": type(error).__name__})


def _each(items: Iterable[Any], deadline: Deadline, report: SweepReport, step: str,
          action: Callable[[Any], None]) -> bool:
    """Run ``action`` on each item until the deadline; one failure is logged and skipped.
    False when the deadline stopped it."""
    for item in _until(items, deadline, report):
        try:
            action(item)
        except Exception as e:  # one bad item must not stop the sweep; it is retried next run
            _failed(report, step, e)
    return not deadline.passed()


def _quiet(since_epoch: float | None) -> bool:
    return since_epoch is None or clock.epoch() - since_epoch >= get_config().index_settle_seconds


def release_expired(report: SweepReport, deadline: Deadline) -> None:
    """Assignments idle past ``KEFU_ASSIGNMENT_TTL``: end the session and free the agent."""
    now = int(clock.epoch())

    def expire(item: AssignmentModel) -> None:
        fresh = release.get_assignment(item.customer_id)
        if fresh is None or fresh.expires_at >= now:
            return
        if release.release_assignment(fresh, release.end_actions("system", "timeout"),
                                      expired_before=now) is Release.RELEASED:
            session = get_or_none(SessionModel, fresh.session_id)
            if session is not None:
                after_commit("claim", claims.release_claim, session.visitor_id, session.session_id)
                after_commit("notify", notify.session_ended, session, "system", "timeout", fresh.agent_id)
            report.expired_released.append({"customer_id": fresh.customer_id, "agent_id": fresh.agent_id,
                                            "session_id": fresh.session_id})

    for shard in range(SWEEP_SHARDS):
        items = AssignmentModel.by_expiry.query(f"s{shard}", AssignmentModel.expires_at < now, limit=PAGE)
        if not _each(items, deadline, report, "expiry", expire):
            return


def _agent_walk() -> Iterator[AgentModel]:
    """Agents after the last one a run finished, wrapping around once, read page by page."""
    cursor = get_or_none(CounterModel, CURSOR)
    start = cursor.ref if cursor is not None and cursor.ref else None
    yield from AgentModel.in_directory.query("agents", AgentModel.username > start if start else None,
                                             page_size=PAGE)
    if start:
        yield from AgentModel.in_directory.query("agents", AgentModel.username <= start, page_size=PAGE)


def _save_cursor(username: str) -> None:
    retrying(lambda: CounterModel(CURSOR, ref=username).save())


def sweep_agents(report: SweepReport, deadline: Deadline) -> None:
    """Presence, hand-back and count repair for each agent, on consistent reads. The cursor moves
    past an agent once its visit finished (or failed: retried next round), never before."""
    listed: set[str] | None = None  # the roster, read with the first agent (a run out of time reads nothing)
    for item in _until(_agent_walk(), deadline, report):
        try:
            if listed is None:
                listed = roster.members()
            finished = _presence(item.agent_id, listed, report, deadline) and \
                _repair_count(item.agent_id, report, deadline)
        except Exception as e:  # one bad agent must not stop the sweep; it is retried next round
            _failed(report, "agents", e)
            finished = True
        if not finished:
            report.complete = False
            return  # the deadline cut this visit short: the next run starts with this agent
        after_commit("cursor", _save_cursor, item.username)


def _presence(agent_id: str, listed: set[str], report: SweepReport, deadline: Deadline) -> bool:
    """Presence for one agent (and their place on the roster of who is online, ``listed`` as read
    at the start of the run); False when the deadline cut it short."""
    config = get_config()
    agent = slots.get_agent(agent_id)
    if roster.repair(agent, listed):
        report.roster_fixed.append(agent_id)
    now = clock.epoch()
    if agent.status == "offline":
        if int(agent.active_count) > 0 or _has_assignments(agent_id):
            lifecycle.requeue_agent_sessions(agent_id, deadline)  # a hand-back that stopped half-way
        return not deadline.passed()
    cutoff = heartbeat_cutoff(now)
    silent = float(agent.heartbeat_at or 0) < cutoff
    if agent.pool is not None and silent:
        slots.refresh_pool(agent_id)
        report.agents_unpooled.append(agent_id)
        after_commit("notify", notify.agent_presence, agent_id, agent.status, presence.INACTIVE)
    silent_since = agent.disconnected_at if agent.disconnected_at is not None else (
        float(agent.heartbeat_at or 0) + config.heartbeat_window_seconds)
    if silent and now - silent_since > config.presence_grace_seconds \
            and not connections.is_present(agent_id, "agent") and not deadline.passed() \
            and presence.set_offline_if_silent(agent_id, cutoff, deadline):
        report.agents_offline.append(agent_id)
        after_commit("notify", notify.agent_presence, agent_id, "offline", presence.INACTIVE)
    return not deadline.passed()


def _has_assignments(agent_id: str) -> bool:
    return any(True for _ in AssignmentModel.by_agent.query(agent_id, limit=1))


def _listed_customers(agent: AgentModel) -> Iterator[str]:
    """The agent's customers: ``customer_ids`` (read consistently, written with the count) first,
    then the ``by_agent`` index for assignments older than that set; each once. The index alone
    may miss an assignment for longer than any window (a lag spike)."""
    seen = set(agent.customer_ids or ())
    yield from sorted(seen)
    for listed in AssignmentModel.by_agent.query(agent.agent_id, page_size=PAGE):
        if listed.customer_id not in seen:
            seen.add(listed.customer_id)
            yield listed.customer_id


def _repair_count(agent_id: str, report: SweepReport, deadline: Deadline) -> bool:
    """Make the count equal the agent's confirmed assignments, found on the agent item and the
    index (``_listed_customers``). Raising is always safe; lowering only after a quiet period, and
    only while the agent's customers are those read (nothing assigned or freed meanwhile).
    An assignment whose session is not active with this agent is released (the slot freed).
    False when the deadline cut it short (nothing is set from a partial count)."""
    before = slots.get_agent(agent_id)
    real = 0
    for customer_id in _listed_customers(before):
        if deadline.passed():
            return False
        fresh = release.get_assignment(customer_id)
        if fresh is None or fresh.agent_id != agent_id:
            continue
        session = get_or_none(SessionModel, fresh.session_id)
        if session is None or session.status != "active" or session.agent_id != agent_id:
            if release.release_assignment(fresh, None) is Release.RELEASED:
                report.counts_fixed.append({"agent_id": agent_id, "released_stale": fresh.customer_id})
            before = slots.get_agent(agent_id)
            continue
        real += 1
    agent = slots.get_agent(agent_id)
    if int(agent.active_count) != int(before.active_count) or agent.customer_ids != before.customer_ids:
        return True  # moving right now: the next sweep looks again
    was = int(agent.active_count)
    last = clock.epoch_of(agent.last_assigned_at) if agent.last_assigned_at else None
    if real < was and not _quiet(last):
        return True
    if real == was and (agent.pool is not None) == is_available(agent):
        return True
    if slots.set_count(agent, real) and real != was:
        report.counts_fixed.append({"agent_id": agent_id, "was": was, "now": real})
    return True


def sweep_customers(report: SweepReport, deadline: Deadline) -> None:
    """Waiting customers who left (no live socket past the grace period) leave the queue; active
    ones whose visitor is gone past ``KEFU_VISITOR_AWAY_TIMEOUT`` end with ``visitor_left``;
    queued sessions outside the queue index are put back in it."""
    config = get_config()
    now = clock.epoch()

    def waiting(listed: SessionModel) -> None:
        session = get_or_none(SessionModel, listed.session_id)
        if session is None or session.status != "queued" or connections.is_present(session.visitor_id, "visitor"):
            return
        left = max(clock.epoch_of(session.queued_at or session.created_at), float(session.visitor_left_at or 0))
        if now - left > config.presence_grace_seconds and release.finish_waiting(
                session, "system", "abandoned", status="abandoned"):
            after_commit("claim", claims.release_claim, session.visitor_id, session.session_id)
            after_commit("notify", notify.session_ended, session, "system", "abandoned")
            report.sessions_abandoned.append(session.session_id)

    def active(listed: SessionModel) -> None:
        session = get_or_none(SessionModel, listed.session_id)
        if session is None or session.status != "active" or session.visitor_left_at is None:
            return
        if now - float(session.visitor_left_at) <= config.visitor_away_seconds:
            return
        if connections.is_present(session.visitor_id, "visitor"):
            return
        lifecycle.end_session(session, "system", "visitor_left", deadline=deadline)
        report.sessions_abandoned.append(session.session_id)

    def outside(listed: SessionModel) -> None:
        session = get_or_none(SessionModel, listed.session_id)
        if session is not None and session.status == "queued" and session.queue_ticket is None:
            queue.enqueue(session)
            report.sessions_repaired.append(session.session_id)

    if not _each(SessionModel.queue.query(QUEUE_POOL, limit=PAGE * 10, page_size=PAGE), deadline, report,
                 "waiting", waiting):
        return
    away = SessionModel.by_status.query("active", filter_condition=SessionModel.visitor_left_at.exists(),
                                        limit=PAGE * 10, page_size=PAGE)
    if not _each(away, deadline, report, "away", active):
        return
    if not _each(SessionModel.by_status.query("queued", filter_condition=SessionModel.queue_ticket.does_not_exist(),
                                              limit=PAGE), deadline, report, "outside", outside):
        return
    if report.sessions_abandoned:
        after_commit("announce", dispatch.announce_positions, deadline=deadline)


def give_back_stale_tickets(report: SweepReport, deadline: Deadline) -> None:
    """Tickets whose holder died between taking them and writing its session stop counting in
    the queue length: the only way the length could drift, repaired whatever the traffic."""
    try:
        report.tickets_given_back += queue.give_back_stale(deadline)
    except Exception as e:  # logged; the next run tries again
        _failed(report, "tickets", e)


def cleanup(deadline: Deadline | None = None) -> SweepReport:
    """The whole sweep: expiry, agents, customers, stale queue tickets; then dispatch, and the
    announcement of moves no announcer finished (one died, or stopped at its deadline)."""
    deadline = deadline or Deadline(budget_seconds=get_config().cleanup_budget_seconds)
    report = SweepReport()
    release_expired(report, deadline)
    sweep_agents(report, deadline)
    sweep_customers(report, deadline)
    if not deadline.passed():
        give_back_stale_tickets(report, deadline)
    if not deadline.passed():
        after_commit("queue tickets", queue.repair_tickets, deadline)
    if not deadline.passed():
        report.dispatched = after_commit("dispatch", dispatch.dispatch_queue, deadline=deadline) or 0
    if not report.dispatched and not deadline.passed() and after_commit("announce", positions.pending):
        after_commit("announce", dispatch.announce_positions, deadline=deadline)  # moves left untold
    if deadline.passed():
        report.complete = False
    logger.info("cleanup", **{k: (len(v) if isinstance(v, list) else v) for k, v in report.to_dict().items()})
    return report


def agents_overview() -> list[dict[str, Any]]:
    """Every agent's status, availability and load, by username. The directory index says who
    the agents are; their state is read consistently from the table, since the index may show a
    socket that has closed or a status that has changed. An agent online a moment after they were
    created is on the roster (read consistently) before the lagging index lists them: the console
    offers them as a transfer target at once (one created and still offline may be missing until
    the index catches up)."""
    listed = [a.agent_id for a in AgentModel.in_directory.query("agents")]
    listed += sorted(roster.members() - set(listed))
    current = {a.agent_id: a for a in get_all(AgentModel, listed)}
    listed.sort(key=lambda agent_id: current[agent_id].username if agent_id in current else "")
    return [
        {
            "agent_id": a.agent_id,
            "display_name": a.display_name,
            "status": a.status,
            "is_available": is_available(a),
            "active": int(a.active_count),
            "max_concurrent": int(a.max_concurrent),
            "last_assigned_at": a.last_assigned_at,
        }
        for a in (current.get(agent_id) for agent_id in listed) if a is not None
    ]
