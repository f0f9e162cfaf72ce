"""Signed tokens (JWT, HS256) for visitors and agents.

The signing secret comes from ``KEFU_JWT_SECRET`` locally, and in AWS from the SSM parameter or
Secrets Manager secret named by ``KEFU_JWT_SECRET_PARAMETER`` (read through Powertools Parameters,
cached for five minutes). It is never in the repository.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from chalicelib.config import get_config
from chalicelib.errors import Unauthorized

ALGORITHM = "HS256"
TOKEN_TYPES = ("visitor", "agent")


@dataclass(frozen=True)
class Principal:
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


def signing_secret() -> str:
    config = get_config()
    if config.jwt_secret:
        return config.jwt_secret
    if config.jwt_secret_parameter:
        name = config.jwt_secret_parameter
        if name.startswith("arn:aws:secretsmanager:") or name.startswith("secret:"):
            from aws_lambda_powertools.utilities.parameters import get_secret

            return str(get_secret(name.removeprefix("secret:"), max_age=300))
        from aws_lambda_powertools.utilities.parameters import get_parameter

        return str(get_parameter(name, decrypt=True, max_age=300))
    raise RuntimeError("no JWT secret: set KEFU_JWT_SECRET or KEFU_JWT_SECRET_PARAMETER")


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
    import jwt  # lazy: only the functions that handle tokens pay for it at cold start

    return jwt.encode(claims, signing_secret(), algorithm=ALGORITHM), expires_at


def verify(token: str | None, allowed_types: tuple[str, ...] = TOKEN_TYPES) -> Principal:
    """The principal of a valid token; ``Unauthorized`` for none, forged, expired or wrong type."""
    if not token:
        raise Unauthorized("missing token")
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    import jwt  # lazy: only the functions that handle tokens pay for it at cold start

    try:
        claims = jwt.decode(
            token,
            signing_secret(),
            algorithms=[ALGORITHM],
            options={"require": ["exp", "iat", "sub", "typ", "role"]},
        )
    except jwt.ExpiredSignatureError as e:
        raise Unauthorized("token expired") from e
    except jwt.PyJWTError as e:
        raise Unauthorized("invalid token") from e
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
