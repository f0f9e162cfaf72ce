"""Device tokens (OWASP's "device cookies"): a browser that signed in to an account gets a signed
token naming the account and a device id, and sends it back with its later logins. Logins that
carry a valid one are limited per device, so nobody else's failures can slow that browser down.

A device token proves only that this browser once knew the password: it authenticates nothing
(``tokens.verify`` refuses its type) and is no good for another username.
"""

from __future__ import annotations

import time
import uuid

import msgspec

from chalicelib.errors import Unauthorized
from chalicelib.services import tokens

TYPE = "device"
LIFETIME_SECONDS = 180 * 86400


class Device(msgspec.Struct, frozen=True):
    device_id: str
    username: str


def issue(username: str, device_id: str | None = None) -> str:
    """A device token for ``username`` (renewed with the same id when the browser had one)."""
    issued_at = int(time.time())
    return tokens.sign({"typ": TYPE, "usr": username.lower(), "sub": device_id or uuid.uuid4().hex,
                        "iat": issued_at, "exp": issued_at + LIFETIME_SECONDS})


def recognise(device_token: str | None, username: str) -> Device | None:
    """The device a valid token names for ``username``; None for none, a forged, expired or
    foreign one (such a login is simply not trusted)."""
    if not device_token:
        return None
    try:
        claims = tokens.decode(device_token, ("exp", "iat", "sub", "typ", "usr"))
    except Unauthorized:
        return None
    if claims.get("typ") != TYPE or claims.get("usr") != username.lower():
        return None
    return Device(str(claims["sub"]), username.lower())
