"""Salted, slow password hashes (stdlib scrypt), verified in constant time."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os

from chalicelib.config import get_config

_R, _P = 8, 1
_LEN = 32


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    n = get_config().password_scrypt_n
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=_R, p=_P, dklen=_LEN)
    return f"scrypt${n}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                                p=int(p), dklen=len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


@functools.lru_cache(maxsize=1)
def dummy_hash() -> str:
    """Verified against when the username does not exist, so both failures take the same time.
    Made on first use, not at import: a cold start should not pay for an scrypt."""
    return hash_password(os.urandom(8).hex())
