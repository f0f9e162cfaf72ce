"""Transfer: move an active session to another available agent, atomically.

One transaction moves the count from the source to the target, repoints the assignment and the
session; it is conditioned on the assignment and session still naming the source agent that was
authorised, and on the target being available (online, a live socket, room) as stored.
"""

from __future__ import annotations

from chalicelib import clock
from chalicelib.errors import CapacityFull, Conflict, Forbidden, ValidationFailed
from chalicelib.models import AgentModel, AssignmentModel, SessionModel
from chalicelib.models.base import CONDITION_FAILED, Transaction, fetch, rounds
from chalicelib.models.session import next_version
from chalicelib.observability import logger
from chalicelib.services import notify
from chalicelib.services.assignment import dispatch, matching, queue, release, slots
from chalicelib.services.assignment.availability import is_available
from chalicelib.services.assignment.effects import after_commit
from chalicelib.services.assignment.results import AssignOutcome, Attempt

TRANSFER_ROUNDS = 5


def transfer(session_id: str, to_agent_id: str | None, by_user: str,
             only_from: str | None = None, note: str | None = None) -> AssignOutcome:
    """Move an active session to another agent with room; everyone is told (``note``: what the
    transferring agent wrote for the next one, on the transcript's line for agents only).
    ``only_from``: the caller may move it only while it is with that agent (checked on the read
    the move acts on)."""
    session = fetch(SessionModel, session_id, "session")
    if only_from is not None and session.agent_id != only_from:
        raise Forbidden("you are not a participant of this session")
    if session.status != "active" or not session.agent_id:
        raise Conflict("only an active session can be transferred")
    assignment = release.get_assignment(session.visitor_id)
    if assignment is None or assignment.session_id != session_id or assignment.agent_id != session.agent_id:
        raise Conflict("session has no current assignment")
    if to_agent_id == session.agent_id:
        raise ValidationFailed("the session is already with that agent")
    for _ in rounds(TRANSFER_ROUNDS):
        if to_agent_id:
            target = slots.get_agent(to_agent_id)
            if not is_available(target):
                if int(target.active_count) >= int(target.max_concurrent):
                    raise CapacityFull("that agent has no free slot")
                raise Conflict("that agent is not online")
            targets = [target]
        else:
            targets = matching.candidates(exclude={session.agent_id})
            if not targets:
                raise CapacityFull("no other agent has a free slot")
        for target in targets:
            result = _move(session, assignment, target)
            if result is Attempt.DONE:
                after_commit("notify", notify.session_transferred, session,
                             (assignment.agent_id, assignment.agent_name), (target.agent_id, target.display_name), note)
                logger.info("transferred", session_id=session_id, from_agent=assignment.agent_id,
                            to_agent=target.agent_id, by=by_user)
                if queue.queue_length() > 0:  # the former agent has a free slot now
                    after_commit("dispatch", dispatch.dispatch_queue, made_room=assignment.agent_id)
                fresh = fetch(SessionModel, session_id, "session")
                return AssignOutcome(fresh, target.agent_id, target.display_name, fresh.assigned_at)
            if result is Attempt.SESSION_GONE:
                raise Conflict("session changed while transferring; reload it")
    raise Conflict("could not transfer: agents changed meanwhile; try again")


def _move(session: SessionModel, assignment: AssignmentModel, target: AgentModel) -> Attempt:
    source = slots.get_agent(assignment.agent_id)
    now = clock.iso()
    tx = Transaction()
    slots.add_decrement(tx, source, assignment.customer_id, additive=False, name="source")
    slots.add_transfer_target(tx, target, assignment.customer_id, now)
    tx.update(
        "assignment",
        assignment,
        actions=[AssignmentModel.agent_id.set(target.agent_id),
                 AssignmentModel.agent_name.set(target.display_name),
                 AssignmentModel.assigned_at.set(now)],
        condition=(AssignmentModel.agent_id == source.agent_id)
        & (AssignmentModel.session_id == session.session_id),
    )
    tx.update(
        "session",
        session,
        actions=[SessionModel.agent_id.set(target.agent_id),
                 SessionModel.agent_name.set(target.display_name),
                 SessionModel.transfer_count.add(1), next_version()],
        condition=(SessionModel.agent_id == source.agent_id) & (SessionModel.status == "active")
        & session.at_version(),
    )
    failed = tx.commit()  # a lost answer is retried with the same token: only our commit is {}
    if not failed:
        session.advanced()
        return Attempt.DONE
    if failed.get("assignment") == CONDITION_FAILED or failed.get("session") == CONDITION_FAILED:
        return Attempt.SESSION_GONE
    return Attempt.AGENT_BUSY
