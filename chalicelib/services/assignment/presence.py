"""Agent presence and status: online/away/offline, capacity, heartbeats and sockets.

Every frame is a heartbeat. An agent silent past ``KEFU_HEARTBEAT_WINDOW`` is not chosen (the
one definition of available checks the heartbeat) and the sweep takes them out of the pool and
tells their sockets (``agent.presence``); their next frame brings them back. An agent the sweep set
offline (``offline_reason = inactive``) stays offline until they set themselves online again; they
are told so. The set of an agent's open sockets lives on the agent item, so ``$disconnect`` decides
"last socket" on a consistent read, never on the lagging ``by_user`` index.
"""

from __future__ import annotations

from chalicelib import clock
from chalicelib.errors import ValidationFailed
from chalicelib.models import AgentModel
from chalicelib.observability import logger
from chalicelib.services import activity, connections, notify, senders
from chalicelib.services.assignment import dispatch, lifecycle, queue, slots
from chalicelib.services.assignment.availability import is_available
from chalicelib.services.assignment.deadline import UNBOUNDED, Deadline
from chalicelib.services.assignment.effects import after_commit

STATUSES = ("online", "away", "offline")
INACTIVE = "inactive"
INACTIVE_TOLD = "inactive_told"


def set_status(agent_id: str, status: str, reason: str | None = None) -> AgentModel:
    """online / away / offline. Going offline hands this agent's customers to others. Returns
    the agent as written (its ``active`` is the real count)."""
    if status not in STATUSES:
        raise ValidationFailed("status must be online, away or offline")
    _write_status(agent_id, status, reason)
    return slots.get_agent(agent_id)


def set_offline_if_silent(agent_id: str, unheard_since: float, deadline: Deadline = UNBOUNDED) -> bool:
    """The sweep's "offline for inactivity": written only while no frame came since
    ``unheard_since`` (a frame landing after the sweep read the agent wins). The hand-back and
    dispatch after it stop at ``deadline``; the sweep hands back the rest next run."""
    return _write_status(agent_id, "offline", INACTIVE, unheard_since=unheard_since, deadline=deadline)


def _write_status(agent_id: str, status: str, reason: str | None, *, unheard_since: float | None = None,
                  deadline: Deadline = UNBOUNDED) -> bool:
    def build(agent: AgentModel) -> list:
        # A status set here is chosen (or imposed by the sweep): nothing is restored over it later.
        actions = [AgentModel.status.set(status), AgentModel.updated_at.set(clock.iso()),
                   AgentModel.resume_status.remove()]
        if reason:
            actions.append(AgentModel.offline_reason.set(reason))
        else:
            actions.append(AgentModel.offline_reason.remove())
        return actions

    if slots.update_agent(agent_id, build, status=status, unheard_since=unheard_since) is None:
        return False
    after_commit("activity", activity.agent_status_changed, agent_id, status)
    if status == "offline":
        after_commit("requeue", lifecycle.requeue_agent_sessions, agent_id, deadline)
    after_commit("dispatch", dispatch.dispatch_queue, deadline=deadline,
                 made_room=agent_id if status == "online" else None)
    return True


def set_capacity(agent_id: str, capacity: int) -> AgentModel:
    """Change ``max_concurrent``; lowering it below the current load takes effect as chats end."""
    if capacity < 0 or capacity > 1000:
        raise ValidationFailed("max_concurrent must be between 0 and 1000")
    agent = slots.update_agent(agent_id, lambda a: [AgentModel.max_concurrent.set(capacity),
                                                    AgentModel.updated_at.set(clock.iso())],
                               capacity=capacity)
    after_commit("dispatch", dispatch.dispatch_queue, made_room=agent_id)
    return agent


def agent_heartbeat(agent_id: str, connection_id: str | None = None) -> None:
    """A heartbeat from one of the agent's sockets (``connection_id``, which goes back on their set
    of open sockets): alive; back in the pool if otherwise eligible."""
    agent = slots.record_heartbeat(agent_id, connection_id)
    if agent is not None:
        _after_heartbeat(agent)


def agent_frame(agent_id: str, connection_id: str) -> senders.Sender | None:
    """A frame from one of the agent's sockets, in the frame's one write (``senders``: the rate
    limit, the heartbeat, the socket back on their set); then what the heartbeat changes. The
    queue is looked at only when this frame made the agent available (back in the pool, or back
    from a silence during which dispatchers skipped them): a frame of an agent heard all along
    costs no read. None when the agent no longer exists."""
    sender = senders.count_frame("agent", agent_id, also=slots.heartbeat_actions(connection_id))
    if sender is not None:
        _after_heartbeat(sender.item, only_if_back=True)
    return sender


def _after_heartbeat(agent: AgentModel, only_if_back: bool = False) -> None:
    if agent.status == "offline" and agent.offline_reason == INACTIVE:
        _tell_set_offline(agent.agent_id)
        return
    _back_if_available(agent, only_if_back)


def _tell_set_offline(agent_id: str) -> None:
    """An agent the sweep set offline speaks again: told once that they must set themselves
    online (the reason becomes ``inactive_told``, so later frames stay quiet)."""
    if slots.note_offline_told(agent_id, INACTIVE, INACTIVE_TOLD):
        after_commit("notify", notify.agent_presence, agent_id, "offline", INACTIVE)


def _back_if_available(agent: AgentModel, only_if_back: bool = False) -> None:
    if not is_available(agent):
        return
    if agent.pool is None:
        slots.refresh_pool(agent.agent_id)
        after_commit("notify", notify.agent_presence, agent.agent_id, "online", "active")
    elif only_if_back and not slots.was_silent(agent):
        return  # in the pool and heard all along: every dispatch meanwhile could choose them
    if queue.queue_length() > 0:
        # Available with customers waiting: newly back in the pool, or back from a silence
        # during which dispatchers skipped this agent (the index may still show the old
        # heartbeat: the dispatch reads this agent consistently when it shows nobody).
        after_commit("dispatch", dispatch.dispatch_queue, made_room=agent.agent_id)


def agent_connected(agent_id: str, connection_id: str, cap: int | None = None) -> bool:
    """A socket of the agent is registered: it joins their open sockets, unless they already hold
    ``cap`` (sockets API Gateway has certainly closed are taken off first; False when still full).
    Back in the pool if an old socket's ``$disconnect`` took them out meanwhile (a reload); no
    dispatch from here (the new socket cannot be posted to yet): their next frame serves the queue."""
    agent = slots.mark_connected(agent_id, connection_id, cap)
    if agent is None and cap is not None:
        connections.prune_closed(agent_id, "agent")
        agent = slots.mark_connected(agent_id, connection_id, cap)
    if agent is None:
        return False
    if agent.status == "away" and agent.offline_reason == slots.DISCONNECTED and agent.resume_status:
        _restore_chosen_status(agent_id, agent.resume_status)
    elif agent.pool is None and is_available(agent):
        # back in the pool, stamped as a change: their first frame then looks at the queue
        slots.update_agent(agent_id, lambda _: [AgentModel.updated_at.set(clock.iso())])
    return True


def _restore_chosen_status(agent_id: str, chosen: str) -> None:
    """An agent set away when their last socket closed is back: the status they had chosen again
    (and the pool, when it makes them available). Only while they are still away for that reason:
    a status chosen meanwhile stands. No dispatch from here (see ``agent_connected``)."""
    def build(agent: AgentModel) -> list:
        return [AgentModel.status.set(chosen), AgentModel.offline_reason.remove(),
                AgentModel.resume_status.remove(), AgentModel.updated_at.set(clock.iso())]

    still_away = ((lambda a: a.status == "away" and a.offline_reason == slots.DISCONNECTED),
                  (AgentModel.status == "away") & (AgentModel.offline_reason == slots.DISCONNECTED))
    if slots.update_agent(agent_id, build, status=chosen, only_if=still_away) is not None:
        after_commit("activity", activity.agent_status_changed, agent_id, chosen)


def agent_disconnected(agent_id: str, connection_id: str | None = None) -> None:
    """One of the agent's sockets closed (with any others API Gateway has certainly closed). When
    no open one is left, the agent leaves the pool at once, an online agent is set away until a
    socket of theirs opens again (``slots.mark_disconnected``), and they go offline after the grace
    period (the sweep)."""
    left = connections.socket_left(agent_id, "agent", connection_id)
    if left is None:
        logger.info("disconnect of an agent that no longer exists", agent_id=agent_id)
        return
    if not left and slots.mark_disconnected(agent_id) == "away":
        after_commit("activity", activity.agent_status_changed, agent_id, "away")
