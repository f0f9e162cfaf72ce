"""Visitors: anonymous sign-up that yields a visitor token."""

from __future__ import annotations

import uuid

from pynamodb.exceptions import DoesNotExist

from chalicelib import clock
from chalicelib.errors import NotFound
from chalicelib.models import VisitorModel
from chalicelib.models.base import conditional
from chalicelib.services import customer_search, tokens
from chalicelib.services.tokens import Principal


def sign_up(name: str | None, email: str | None) -> dict:
    """Create a visitor and a token that resumes them on every reconnect."""
    visitor = VisitorModel(f"v_{uuid.uuid4().hex}", name=name or None, email=email or None,
                           created_at=clock.iso())
    # A fresh id: a condition failure after a retry can only be this write's own lost answer.
    conditional(lambda: visitor.save(condition=VisitorModel.visitor_id.does_not_exist()),
                already_done=lambda: True)
    customer_search.index_customer(visitor)
    token, expires_at = tokens.issue(Principal(visitor.visitor_id, "visitor", "visitor", visitor.name))
    return {
        "visitor_id": visitor.visitor_id,
        "name": visitor.name,
        "token": token,
        "expires_at": clock.iso_from_epoch(expires_at),
    }


def get_visitor(visitor_id: str) -> VisitorModel:
    try:
        return VisitorModel.get(visitor_id, consistent_read=True)
    except DoesNotExist as e:
        raise NotFound(f"no visitor {visitor_id}") from e
