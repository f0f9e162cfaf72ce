"""A visitor's one open session: a unique claim item (``open-session#{visitor}``) written in the
same transaction as the session it points at."""

from __future__ import annotations

from chalicelib.models import CounterModel, SessionModel
from chalicelib.models.base import conditional, get_or_none


def claim_key(visitor_id: str) -> str:
    return f"open-session#{visitor_id}"


def new_claim(visitor_id: str, session_id: str) -> CounterModel:
    return CounterModel(claim_key(visitor_id), ref=session_id)


def claimed_session(visitor_id: str) -> tuple[str | None, SessionModel | None]:
    """The session id the visitor's claim points at (None: no claim) and that session when it
    is still open."""
    return session_of_claim(get_or_none(CounterModel, claim_key(visitor_id)))


def session_of_claim(claim: CounterModel | None) -> tuple[str | None, SessionModel | None]:
    """``claimed_session`` for a claim item already read (consistently)."""
    if claim is None:
        return None, None
    session = get_or_none(SessionModel, claim.ref)
    return claim.ref, (session if session is not None and session.is_open else None)


def open_session_of(visitor_id: str) -> SessionModel | None:
    """The visitor's open session, through the claim that makes it unique."""
    return claimed_session(visitor_id)[1]


def release_claim(visitor_id: str, session_id: str) -> None:
    """The claim pointing at ``session_id`` (closed, or never opened) goes; a claim that points
    elsewhere (a fresh session) stays: the delete is conditioned on the ref that was found."""
    conditional(lambda: CounterModel(claim_key(visitor_id)).delete(condition=CounterModel.ref == session_id))
