"""Identity verification for ``window.kefu('identify', ...)``, as Intercom does it.

A shop whose customers are logged in passes their own ``user_id`` and ``user_hash`` =
HMAC-SHA256(workspace secret, user_id), computed by the shop's server (the secret never reaches a
browser). A good hash makes the identity *verified*: one visitor record per ``user_id`` across
devices, found through a unique claim (``identity#{user_id}`` in the counters table, written with
``attribute_not_exists``). Without a hash the identity is stored on the caller's own record as
*unverified*: shown as such, never used to find, merge with or take over another record.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import msgspec

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.errors import Conflict, IdentityConflict, InvalidUserHash
from chalicelib.models import CounterModel, VisitorModel
from chalicelib.models.base import Transaction, conditional, get_or_none, rounds
from chalicelib.services import visitors

CLAIM_ROUNDS = 4


class Identity(msgspec.Struct, frozen=True):
    user_id: str
    user_hash: str | None = None
    name: str | None = None
    email: str | None = None
    attributes: dict[str, Any] | None = None


class Identified(msgspec.Struct, frozen=True):
    """The visitor record the identity belongs to; ``switched`` when it is not the caller's."""

    visitor: VisitorModel
    switched: bool

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"visitor": self.visitor.to_profile(), "switched": self.switched}
        if self.switched:
            issued = visitors.token_for(self.visitor)
            body.update(token=issued["token"], expires_at=issued["expires_at"])
        return body


def identity_secret() -> str:
    """The workspace's secret: ``KEFU_IDENTITY_SECRET`` locally, else the SSM parameter named by
    ``KEFU_IDENTITY_SECRET_PARAMETER`` (cached five minutes)."""
    config = get_config()
    if config.identity_secret:
        return config.identity_secret
    if config.identity_secret_parameter:
        from aws_lambda_powertools.utilities.parameters import get_parameter

        return str(get_parameter(config.identity_secret_parameter, decrypt=True, max_age=300))
    raise InvalidUserHash("identity verification is not configured (KEFU_IDENTITY_SECRET)")


def user_hash(user_id: str, secret: str | None = None) -> str:
    """What the shop's server computes: lowercase hex HMAC-SHA256 of ``user_id``."""
    return hmac.new((secret or identity_secret()).encode(), user_id.encode(), hashlib.sha256).hexdigest()


def hash_matches(identity: Identity) -> bool:
    """``identity.user_hash`` is the HMAC of its ``user_id`` (in any case). Compared as bytes: any
    text may arrive, and ``compare_digest`` refuses ``str`` holding non-ASCII characters."""
    given = (identity.user_hash or "").lower().encode()
    return hmac.compare_digest(given, user_hash(identity.user_id).encode())


def _claim_key(user_id: str) -> str:
    return f"identity#{user_id}"


def _profile_actions(identity: Identity, verified: bool) -> list:
    actions = [VisitorModel.user_id.set(identity.user_id), VisitorModel.verified.set(verified),
               VisitorModel.updated_at.set(clock.iso())]
    if identity.name is not None:
        actions.append(VisitorModel.name.set(identity.name))
    if identity.email is not None:
        actions += [VisitorModel.email.set(identity.email), VisitorModel.email_verified.set(verified)]
    if identity.attributes is not None:
        actions.append(VisitorModel.attributes.set(identity.attributes))
    return actions


def identify(visitor_id: str, identity: Identity) -> Identified:
    """Store ``identity`` for the caller (``visitor_id``), or find the verified record it names."""
    caller = visitors.get_visitor(visitor_id)
    if identity.user_hash is None:
        if caller.verified:
            raise IdentityConflict("this visitor is verified: identify with a user_hash")
        _update(caller.visitor_id, _profile_actions(identity, verified=False))
        return _done(caller.visitor_id, switched=False)
    if not hash_matches(identity):
        raise InvalidUserHash("user_hash does not match user_id")
    return _verified(caller, identity)


def sign_up(identity: Identity) -> tuple[VisitorModel, bool]:
    """A public sign-up carrying an identity: the verified record of that user when there is one
    (no new record), else a new visitor, identified. Returns the record and whether it is new."""
    if identity.user_hash is not None:
        if not hash_matches(identity):
            raise InvalidUserHash("user_hash does not match user_id")
        claim = get_or_none(CounterModel, _claim_key(identity.user_id))
        if claim is not None:
            return _verified_existing(claim.ref, identity).visitor, False
    created = visitors.new_visitor(identity.name, identity.email)
    identified = identify(created.visitor_id, identity)
    return identified.visitor, identified.visitor.visitor_id == created.visitor_id


def _verified(caller: VisitorModel, identity: Identity) -> Identified:
    for _ in rounds(CLAIM_ROUNDS):
        claim = get_or_none(CounterModel, _claim_key(identity.user_id))
        if claim is not None:
            if claim.ref == caller.visitor_id:
                _update(caller.visitor_id, _profile_actions(identity, verified=True))
                return _done(caller.visitor_id, switched=False)
            return _verified_existing(claim.ref, identity)
        # No record holds this user yet: the caller's becomes it, unless it is verified as
        # someone else (a shared device): then a new record.
        owner = caller if not (caller.verified and caller.user_id != identity.user_id) \
            else visitors.new_visitor(None, None)
        tx = Transaction()
        tx.put("claim", CounterModel(_claim_key(identity.user_id), ref=owner.visitor_id),
               condition=CounterModel.name.does_not_exist())
        tx.update("visitor", VisitorModel(owner.visitor_id), actions=_profile_actions(identity, verified=True),
                  condition=VisitorModel.visitor_id.exists())
        if not tx.commit():
            return _done(owner.visitor_id, switched=owner.visitor_id != caller.visitor_id)
    raise Conflict("this identity is being claimed right now; try again")


def _verified_existing(visitor_id: str, identity: Identity) -> Identified:
    _update(visitor_id, _profile_actions(identity, verified=True))
    return _done(visitor_id, switched=True)


def _done(visitor_id: str, switched: bool) -> Identified:
    visitor = visitors.get_visitor(visitor_id)
    visitors.profile_changed(visitor)
    return Identified(visitor, switched)


def _update(visitor_id: str, actions: list) -> None:
    conditional(lambda: VisitorModel(visitor_id).update(actions=actions, condition=VisitorModel.visitor_id.exists()))
