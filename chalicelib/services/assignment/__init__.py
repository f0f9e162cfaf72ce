"""The agent assignment system (客服分配): the public face of the package.

Invariants, each settled by DynamoDB conditions rather than by reading first:
- an agent never holds more customers than ``max_concurrent``: every increment is conditioned on
  the exact count it was computed from, or on ``active_count < max_concurrent``;
- a customer never has two agents: the assignment item is keyed by customer and put with
  ``attribute_not_exists``;
- a session leaves the queue exactly once: ``status = queued`` with its ticket is the condition
  of the move;
- a release happens exactly once: deleting the assignment (conditioned on its agent and session)
  is in the same transaction as the decrement.

Modules, each owning one thing and one kind of write:
``availability`` (the one definition of available), ``slots`` (the only writer of counts, pool
and load key), ``queue`` (the only writer of the queue counters), ``matching`` (choosing an agent,
the assignment transaction), ``dispatch`` (placing and serving the queue, accepting by hand),
``release`` and ``lifecycle`` (freeing slots, ending, handing back), ``transfer``, ``presence``
(status, capacity, heartbeats, sockets), ``roster`` (who is online, exactly), ``sweeps`` (the
bounded cleanup), ``claims`` (a visitor's one open session), ``positions`` (the order of position
notices), ``own_writes`` (this container's latest assignment writes, laid over the lagging
index so back-to-back assignments spread as the least-loaded rule means).
"""

from chalicelib.services.assignment.availability import heartbeat_cutoff, is_available, is_live
from chalicelib.services.assignment.claims import open_session_of
from chalicelib.services.assignment.deadline import Deadline
from chalicelib.services.assignment.dispatch import (
    accept_session,
    announce_positions,
    assign_session,
    dispatch_queue,
    open_session,
    queue_offline,
)
from chalicelib.services.assignment.lifecycle import (
    active_sessions_of,
    end_session,
    release_customer,
    requeue_agent_sessions,
)
from chalicelib.services.assignment.matching import candidates
from chalicelib.services.assignment.positions import last_announcement, next_announcement
from chalicelib.services.assignment.presence import (
    agent_connected,
    agent_disconnected,
    agent_frame,
    agent_heartbeat,
    set_capacity,
    set_status,
)
from chalicelib.services.assignment.queue import enqueue, position_of, queue_length, queue_view, waiting_sessions
from chalicelib.services.assignment.release import add_touch, get_assignment
from chalicelib.services.assignment.results import AssignOutcome, Attempt, Release, SweepReport
from chalicelib.services.assignment.roster import online_agents
from chalicelib.services.assignment.slots import fix_agent_index, refresh_pool
from chalicelib.services.assignment.sweeps import agents_overview, cleanup
from chalicelib.services.assignment.transfer import transfer

__all__ = [
    "AssignOutcome",
    "Attempt",
    "Deadline",
    "Release",
    "SweepReport",
    "accept_session",
    "add_touch",
    "active_sessions_of",
    "agent_connected",
    "agent_disconnected",
    "agent_frame",
    "agent_heartbeat",
    "agents_overview",
    "announce_positions",
    "assign_session",
    "candidates",
    "cleanup",
    "dispatch_queue",
    "end_session",
    "enqueue",
    "fix_agent_index",
    "get_assignment",
    "heartbeat_cutoff",
    "is_available",
    "is_live",
    "last_announcement",
    "next_announcement",
    "online_agents",
    "open_session",
    "open_session_of",
    "position_of",
    "queue_length",
    "queue_offline",
    "queue_view",
    "refresh_pool",
    "release_customer",
    "requeue_agent_sessions",
    "set_capacity",
    "set_status",
    "transfer",
    "waiting_sessions",
]
