"""Signed tokens (JWT, HS256) for visitors and agents.

The signing secret comes from ``KEFU_JWT_SECRET`` locally, and in AWS from the SSM parameter or
Secrets Manager secret named by ``KEFU_JWT_SECRET_PARAMETER`` (read through Powertools Parameters,
cached for five minutes). It is never in the repository.

Rotation logs nobody out: every token names its secret in its header (``kid``), and the secret it
replaced stays accepted while it is configured (``KEFU_JWT_PREVIOUS_SECRET``, or the parameter's
value ``{"current": ..., "previous": ...}``); docs/deploy.md says how.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

import msgspec

from chalicelib.config import get_config
from chalicelib.errors import Unauthorized

ALGORITHM = "HS256"
TOKEN_TYPES = ("visitor", "agent")


class Principal(msgspec.Struct, frozen=True):
    """Who a valid token speaks for."""

    user_id: str
    typ: str  # "visitor" | "agent"
    role: str  # "visitor" | "agent" | "admin"
    name: str | None = None
    gen: int = 0  # the user's token generation when the token was issued (see ``revocation``)

    @property
    def is_admin(self) -> bool:
        return self.typ == "agent" and self.role == "admin"

    @property
    def is_agent(self) -> bool:
        return self.typ == "agent"


class SigningKeys(msgspec.Struct, frozen=True):
    """The secret tokens are signed with, and the one it replaced (still accepted, so a rotation
    logs nobody out; drop it once the longest-lived token signed with it has expired)."""

    current: str
    previous: str | None = None


def key_id(secret: str) -> str:
    """The ``kid`` a token names its secret by: a digest, so the header reveals nothing usable."""
    return hashlib.sha256(b"kefu-jwt-kid:" + secret.encode()).hexdigest()[:16]


def _parse_secrets(value: str) -> SigningKeys:
    """A parameter's value: one secret, or ``{"current": ..., "previous": ...}`` during a rotation."""
    if value.lstrip().startswith("{"):
        data = json.loads(value)
        return SigningKeys(str(data["current"]), str(data["previous"]) if data.get("previous") else None)
    return SigningKeys(value)


def _read_parameter(name: str) -> str:
    if name.startswith("arn:aws:secretsmanager:") or name.startswith("secret:"):
        from aws_lambda_powertools.utilities.parameters import get_secret

        return str(get_secret(name.removeprefix("secret:"), max_age=300))
    from aws_lambda_powertools.utilities.parameters import get_parameter

    return str(get_parameter(name, decrypt=True, max_age=300))


def signing_keys() -> SigningKeys:
    config = get_config()
    if config.jwt_secret:
        return SigningKeys(config.jwt_secret, config.jwt_previous_secret)
    if config.jwt_secret_parameter:
        return _parse_secrets(_read_parameter(config.jwt_secret_parameter))
    raise RuntimeError("no JWT secret: set KEFU_JWT_SECRET or KEFU_JWT_SECRET_PARAMETER")


def signing_secret() -> str:
    """The secret new tokens are signed with."""
    return signing_keys().current


def sign(claims: dict[str, Any]) -> str:
    """``claims`` as a token signed with the current secret, which its header names (``kid``)."""
    import jwt  # lazy: only the functions that handle tokens pay for it at cold start

    secret = signing_secret()
    return jwt.encode(claims, secret, algorithm=ALGORITHM, headers={"kid": key_id(secret)})


def decode(token: str, required: tuple[str, ...] = ("exp", "iat")) -> dict[str, Any]:
    """The claims of a token signed with the current or the previous secret (the one its ``kid``
    names; a token from before key ids tries both). ``Unauthorized`` for anything else."""
    import jwt

    keys = signing_keys()
    known = [k for k in (keys.current, keys.previous) if k]
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as e:
        raise Unauthorized("invalid token") from e
    candidates = known if kid is None else [k for k in known if key_id(k) == kid]
    if not candidates:
        raise Unauthorized("invalid token")
    for index, secret in enumerate(candidates):
        try:
            return dict(jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": list(required)}))
        except jwt.ExpiredSignatureError as e:
            raise Unauthorized("token expired") from e
        except jwt.InvalidSignatureError as e:
            if index == len(candidates) - 1:
                raise Unauthorized("invalid token") from e
        except jwt.PyJWTError as e:
            raise Unauthorized("invalid token") from e
    raise AssertionError("unreachable")


def issue(principal: Principal, ttl_seconds: int | None = None) -> tuple[str, int]:
    """A token for ``principal`` and its expiry (epoch seconds)."""
    config = get_config()
    if ttl_seconds is None:
        ttl_seconds = (config.visitor_token_ttl_seconds if principal.typ == "visitor"
                       else config.agent_token_ttl_seconds)
    issued_at = int(time.time())
    expires_at = issued_at + ttl_seconds
    claims: dict[str, Any] = {
        "sub": principal.user_id,
        "typ": principal.typ,
        "role": principal.role,
        "iat": issued_at,
        "exp": expires_at,
        "jti": uuid.uuid4().hex,
        "gen": principal.gen,
    }
    if principal.name:
        claims["name"] = principal.name
    return sign(claims), expires_at


def verify(token: str | None, allowed_types: tuple[str, ...] = TOKEN_TYPES) -> Principal:
    """The principal of a valid token; ``Unauthorized`` for none, forged, expired or wrong type."""
    if not token:
        raise Unauthorized("missing token")
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    claims = decode(token, ("exp", "iat", "sub", "typ", "role"))
    typ = claims.get("typ")
    if typ not in allowed_types:
        raise Unauthorized("token type not accepted here")
    role = claims.get("role")
    if (typ == "visitor" and role != "visitor") or (typ == "agent" and role not in ("agent", "admin")):
        raise Unauthorized("invalid token")
    gen = claims.get("gen", 0)
    if not isinstance(gen, int) or isinstance(gen, bool):
        raise Unauthorized("invalid token")
    return Principal(user_id=str(claims["sub"]), typ=typ, role=role, name=claims.get("name"), gen=gen)
