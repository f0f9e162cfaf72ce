"""The limits kefu applies, each one definition used by REST and WebSocket alike.

Every limit is decided by one conditional write on its subject's ``LimitModel`` item (a budget,
``services.budgets``, or a slow-down, ``services.slowdown``), or for a user's messages and a
visitor's new conversations on the user's own item (``services.senders``, the same budget in the
write every frame costs), so concurrent
requests cannot pass more than it allows; a refusal is ``RateLimited`` with ``retry_after`` (429 + ``Retry-After``, or
an error frame ``rate_limited``). The figures are in docs/design.md ("Limits").

Addresses are shared (an office, a school, a mobile carrier's NAT), so per-address budgets are
generous and refill steadily; each visitor token has its own, smaller budget behind them. Logins
are counted per account only from browsers and addresses that never signed in to it: a browser
that did (its device token, ``services.devices``) or an address that did has a slow-down of its
own that nobody else's failures touch. Failures slow down (a wait that doubles), they never lock.
"""

from __future__ import annotations

import math
import uuid

import msgspec
from pynamodb.exceptions import DoesNotExist

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.errors import RateLimited, Unavailable
from chalicelib.models import LimitModel
from chalicelib.models.base import retrying
from chalicelib.observability import logger
from chalicelib.services import budgets, devices, slowdown
from chalicelib.services.tokens import Principal

KNOWN_ADDRESS_DAYS = 30


# -- messages, sign-ups, new conversations, sockets ---------------------------------------------


def count_message(user_id: str) -> None:
    """Every frame a user sends (valid or not) and every message sent over REST, from one budget
    per user (``senders.message_budget``). It lives on the user's own item, written by the one
    write a frame costs (``senders``); a REST message pays that write alone."""
    from chalicelib.services import senders

    senders.count_frame(senders.user_type_of(user_id), user_id)


def sign_up(source_ip: str | None) -> None:
    """A visitor sign-up from ``source_ip``."""
    if not source_ip:
        return
    config = get_config()
    budgets.spend(f"signup-ip#{source_ip}", budgets.Budget(
        "sign-ups from this address", config.signups_per_address, config.address_window_seconds))


def conversation_budget() -> budgets.Budget:
    """A visitor's own budget of new conversations (kept on their item: ``senders``)."""
    config = get_config()
    return budgets.Budget("new conversations", config.conversations_per_visitor, config.address_window_seconds)


def new_conversation(visitor_id: str, source_ip: str | None, visitor_spent: bool = False) -> None:
    """A visitor asks for a new conversation: their own budget (unless the frame's write already
    spent it: ``visitor_spent``), then their address's."""
    from chalicelib.services import senders

    config = get_config()
    if not visitor_spent:
        senders.spend_conversation(visitor_id, conversation_budget())
    if source_ip:
        budgets.spend(f"session-ip#{source_ip}", budgets.Budget(
            "new conversations from this address", config.conversations_per_address,
            config.address_window_seconds))


def max_sockets(principal: Principal) -> int:
    """How many open sockets one user may hold (configurable per kind of user)."""
    config = get_config()
    return config.max_sockets_agent if principal.is_agent else config.max_sockets_visitor


# -- logins -----------------------------------------------------------------------------------------


def _pace(what: str, free: int) -> slowdown.Pace:
    config = get_config()
    return slowdown.Pace(what, free, config.login_first_wait_seconds, config.login_max_wait_seconds,
                         config.login_forget_seconds)


def _known_key(username: str, source_ip: str) -> str:
    return f"login-ok#{username.lower()}#{source_ip}"


def is_known_address(username: str, source_ip: str | None) -> bool:
    """Whether ``username`` signed in from ``source_ip`` within the last 30 days."""
    if not source_ip:
        return False
    try:
        marker = LimitModel.get(_known_key(username, source_ip), consistent_read=True)
    except DoesNotExist:
        return False
    return marker.expires_at > clock.epoch()


class LoginAttempt(msgspec.Struct):
    """A login attempt already counted against its subjects; ``succeeded`` when the password was
    right (a wrong one leaves it counted)."""

    username: str
    source_ip: str | None
    device: devices.Device | None
    trusted_key: str | None  # the device's or known address's own slow-down, else None
    counted: list[str] = msgspec.field(default_factory=list)  # per-account and per-address keys
    request_id: str = msgspec.field(default_factory=lambda: uuid.uuid4().hex)

    def succeeded(self) -> str:
        """The right password: the trusted subject's strikes are forgotten, an untrusted attempt
        is given back (only failures count), the address is remembered. Returns the device token
        for the browser to send with its next logins."""
        if self.trusted_key:
            slowdown.clear(self.trusted_key)
        for key in self.counted:
            try:
                slowdown.give_back(key, self.request_id)
            except Unavailable:  # still refused after its retries: the attempt stays counted
                logger.warning("login attempt not given back", key=key)
        if self.source_ip:
            marker = LimitModel(_known_key(self.username, self.source_ip),
                                expires_at=math.ceil(clock.epoch() + KNOWN_ADDRESS_DAYS * 86400))
            retrying(marker.save)
        return devices.issue(self.username, self.device.device_id if self.device else None)


def login_attempt(username: str, source_ip: str | None, device_token: str | None) -> LoginAttempt:
    """Count a login attempt before its password is checked, or refuse it (``RateLimited``).

    A browser with a valid device token for this username is limited on its own; so is an address
    that signed in to it before. Anyone else counts against the account and their address."""
    config = get_config()
    user = username.lower()
    device = devices.recognise(device_token, username)
    if device is not None:
        attempt = LoginAttempt(username, source_ip, device, f"login-device#{device.device_id}")
    elif is_known_address(username, source_ip):
        attempt = LoginAttempt(username, source_ip, None, f"login-known#{user}#{source_ip}")
    else:
        attempt = LoginAttempt(username, source_ip, None, None)
    if attempt.trusted_key:
        slowdown.take(attempt.trusted_key, _pace("failed logins from this browser",
                                                 config.login_free_per_device), attempt.request_id)
        return attempt
    subjects = [(f"login-user#{user}", _pace("failed logins for this account", config.login_free_per_account))]
    if source_ip:
        subjects.insert(0, (f"login-ip#{source_ip}", _pace("failed logins from this address",
                                                           config.login_free_per_address)))
    try:
        for key, pace in subjects:
            slowdown.take(key, pace, attempt.request_id)
            attempt.counted.append(key)
    except RateLimited:
        for key in attempt.counted:
            slowdown.give_back(key, attempt.request_id)
        raise
    return attempt
