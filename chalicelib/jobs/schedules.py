"""The schedules. Each is a thin binding to a service call, so it can be run by hand too."""

from chalice import Blueprint, Rate

from chalicelib.config import CHAT_CORE_TABLES
from chalicelib.observability import logger
from chalicelib.services import assignment, housekeeping

bp = Blueprint(__name__)

# Each sweep's role (``infra.generate.function_needs``; denied locally by ``devstack.iam``).
TABLES_USED_BY = {"assignment_sweep": CHAT_CORE_TABLES, "connection_sweep": CHAT_CORE_TABLES}


@bp.schedule(Rate(1, unit=Rate.MINUTES), name="assignment_sweep")
def assignment_sweep(event):
    """Expire idle assignments, apply presence, drop abandoned customers, fix counts, dispatch."""
    context = getattr(event, "context", None)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return assignment.cleanup(assignment.Deadline(remaining_ms=remaining) if remaining else None).to_dict()


@bp.schedule(Rate(10, unit=Rate.MINUTES), name="connection_sweep")
def connection_sweep(event):
    """Remove connection records whose $disconnect never came."""
    removed = housekeeping.purge_dead_connections()
    logger.info("connection sweep", removed=removed)
    return {"removed": removed}
