"""Visitors: anonymous sign-up that yields a visitor token, and their profile (name, email).

The open conversation keeps a copy of who the visitor is (``visitor_name``, ``visitor_email``,
``visitor_user_id``, ``visitor_verified``) so agents' listings need no read per visitor; every
change of the profile is copied onto it.
"""

from __future__ import annotations

import uuid
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib import clock
from chalicelib.errors import NotFound
from chalicelib.models import SessionModel, VisitorModel
from chalicelib.models.base import conditional
from chalicelib.models.session import OPEN_STATUSES
from chalicelib.services import customer_search, tokens
from chalicelib.services.tokens import Principal


def new_visitor(name: str | None, email: str | None, **identity: Any) -> VisitorModel:
    """Create a visitor record (with ``identity`` attributes: ``user_id``, ``verified``...)."""
    visitor = VisitorModel(f"v_{uuid.uuid4().hex}", name=name or None, email=email or None,
                           created_at=clock.iso(), **identity)
    # A fresh id: a condition failure after a retry can only be this write's own lost answer.
    conditional(lambda: visitor.save(condition=VisitorModel.visitor_id.does_not_exist()),
                already_done=lambda: True)
    customer_search.index_customer(visitor)
    return visitor


def token_for(visitor: VisitorModel) -> dict[str, Any]:
    """A token that resumes ``visitor`` on every reconnect, and the sign-up answer around it."""
    token, expires_at = tokens.issue(Principal(visitor.visitor_id, "visitor", "visitor", visitor.name,
                                               gen=int(visitor.token_gen or 0)))
    return {
        "visitor_id": visitor.visitor_id,
        "name": visitor.name,
        "token": token,
        "expires_at": clock.iso_from_epoch(expires_at),
    }


def sign_up(name: str | None, email: str | None) -> dict:
    """Create a visitor and a token that resumes them on every reconnect."""
    return token_for(new_visitor(name, email))


def get_visitor(visitor_id: str) -> VisitorModel:
    try:
        return VisitorModel.get(visitor_id, consistent_read=True)
    except DoesNotExist as e:
        raise NotFound(f"no visitor {visitor_id}") from e


def update_profile(visitor_id: str, name: str | None = None, email: str | None = None) -> VisitorModel:
    """Set the name and/or email the visitor gave (an email typed in is not verified)."""
    actions = [VisitorModel.updated_at.set(clock.iso())]
    if name is not None:
        actions.append(VisitorModel.name.set(name))
    if email is not None:
        actions += [VisitorModel.email.set(email), VisitorModel.email_verified.set(False)]
    visitor = VisitorModel(visitor_id)
    if not conditional(lambda: visitor.update(actions=actions, condition=VisitorModel.visitor_id.exists())):
        raise NotFound(f"no visitor {visitor_id}")
    updated = get_visitor(visitor_id)
    profile_changed(updated)
    return updated


def profile_changed(visitor: VisitorModel) -> None:
    """After a change of name, email or identity: the open conversation shows it, and the
    console's customer search finds the customer by it."""
    copy_to_open_session(visitor)
    customer_search.index_customer(visitor)


def copy_to_open_session(visitor: VisitorModel) -> None:
    """The visitor's open conversation shows their current name, email and identity."""
    from chalicelib.services import assignment

    session = assignment.open_session_of(visitor.visitor_id)
    if session is None:
        return
    actions = [SessionModel.visitor_name.set(visitor.name) if visitor.name else SessionModel.visitor_name.remove(),
               SessionModel.visitor_email.set(visitor.email) if visitor.email else SessionModel.visitor_email.remove(),
               SessionModel.visitor_verified.set(bool(visitor.verified))]
    actions.append(SessionModel.visitor_user_id.set(visitor.user_id) if visitor.user_id
                   else SessionModel.visitor_user_id.remove())
    conditional(lambda: SessionModel(session.session_id).update(
        actions=actions, condition=SessionModel.status.is_in(*OPEN_STATUSES)))


def session_details(visitor: VisitorModel) -> dict[str, Any]:
    """The copy of the visitor a new conversation starts with. An unverified visitor's session
    stores no ``visitor_verified`` (read as false): every message rewrites the session item in
    each of its indexes, and the attribute alone took some of them over a write unit."""
    return {"visitor_email": visitor.email, "visitor_user_id": visitor.user_id,
            "visitor_verified": True if visitor.verified else None}
