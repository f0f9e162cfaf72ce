"""Rate limits that hold across Lambda containers and over *any* interval of their window.

Each limited subject (a user's messages, a source IP's logins or sign-ups) is one ``LimitModel``
item holding the times of the events it was allowed in the last window. An event is allowed when
fewer than ``limit`` of those times are younger than ``window``; the write that records it is
conditional on the version that was read, so of two events racing for the last slot exactly one
wins and the other re-reads and is refused. Cost: one consistent read and one write per event.
"""

from __future__ import annotations

import functools
import math
import time

from pynamodb.exceptions import DoesNotExist

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.errors import RateLimited
from chalicelib.models import LimitModel
from chalicelib.models.base import backoff, conditional, retrying, stored_as
from chalicelib.services.tokens import Principal

MAX_ATTEMPTS = 12


def _load(key: str) -> LimitModel:
    try:
        return LimitModel.get(key, consistent_read=True)
    except DoesNotExist:
        return LimitModel(key, stamps=[], version=0)


def _recent(log: LimitModel, window: float, now: float) -> list[float]:
    return sorted(float(s) for s in (log.stamps or []) if s > now - window)


def _retry_after(recent: list[float], limit: int, window: float, now: float) -> int:
    """Seconds until the oldest event that keeps the log full leaves the window."""
    oldest_blocking = recent[len(recent) - limit]
    return max(1, math.ceil(oldest_blocking + window - now))


def _refuse(what: str, limit: int, window: float, retry_after: int) -> RateLimited:
    error = RateLimited(f"more than {limit} {what} in {window:g} s; retry in {retry_after} s",
                        retry_after=retry_after)
    return error


def check(key: str, limit: int, window: float, what: str = "requests") -> None:
    """Refuse (``RateLimited``) when ``key`` already has ``limit`` events in the last ``window``;
    records nothing (login asks before it knows whether the attempt failed)."""
    now = clock.epoch()
    recent = _recent(_load(key), window, now)
    if len(recent) >= limit:
        raise _refuse(what, limit, window, _retry_after(recent, limit, window, now))


def hit(key: str, limit: int, window: float, what: str = "requests") -> None:
    """Record one event for ``key`` or refuse it (``RateLimited`` with ``retry_after``) when
    ``limit`` events already happened in the last ``window`` seconds."""
    for attempt in range(MAX_ATTEMPTS):
        if attempt:
            time.sleep(backoff(attempt, base=0.005, cap=0.2))  # short: a refused writer re-reads at once
        now = clock.epoch()
        log = _load(key)
        recent = _recent(log, window, now)
        if len(recent) >= limit:
            raise _refuse(what, limit, window, _retry_after(recent, limit, window, now))
        read_version = log.version or 0
        log.stamps = [*recent, now]
        log.version = read_version + 1
        log.expires_at = int(now + window) + 1
        condition = (LimitModel.version == read_version) if read_version else LimitModel.key.does_not_exist()
        # After a lost answer the retry may meet this event's own write: recognised by what it
        # wrote, so the event is counted once.
        written = {"version": log.version, "stamps": log.stamps}
        if conditional(functools.partial(log.save, condition=condition),
                       already_done=lambda written=written: stored_as(LimitModel, key, written) is not None):
            return
    # Contended beyond reason (dozens of simultaneous events for one subject): refuse this one.
    raise RateLimited(f"too many simultaneous {what}; retry in 1 s", retry_after=1)


# -- the limits kefu applies, each one definition used by REST and WebSocket alike ---------------


def count_message(user_id: str) -> None:
    """Every frame a user sends (valid or not) and every message sent over REST: at most
    ``ws_rate_limit`` per ``ws_rate_window_seconds`` per user, over any such interval."""
    config = get_config()
    hit(f"msg#{user_id}", config.ws_rate_limit, config.ws_rate_window_seconds, "messages")


def max_sockets(principal: Principal) -> int:
    """How many open sockets one user may hold (configurable per kind of user)."""
    config = get_config()
    return config.max_sockets_agent if principal.is_agent else config.max_sockets_visitor


def check_login(username: str, source_ip: str | None, is_known_ip: bool) -> None:
    """Before checking a password: refuse when this source IP, or (unless the IP has logged in to
    this account before) this username, has failed too often within the login window. The lock
    is bounded: it lifts as the failures age out of the window."""
    config = get_config()
    if source_ip:
        check(f"login-ip#{source_ip}", config.login_ip_limit, config.login_window_seconds,
              "failed logins from this address")
    if not is_known_ip:
        check(f"login-user#{username.lower()}", config.login_user_limit,
              config.login_window_seconds, "failed logins for this username")


def record_login_failure(username: str, source_ip: str | None) -> None:
    """Count a wrong password against the address and the username."""
    config = get_config()
    subjects = [(f"login-user#{username.lower()}", config.login_user_limit)]
    if source_ip:
        subjects.append((f"login-ip#{source_ip}", config.login_ip_limit))
    for key, limit in subjects:
        try:
            hit(key, limit, config.login_window_seconds, "failed logins")
        except RateLimited:
            pass  # already full: the next attempt is refused by check_login


def per_ip(kind: str, source_ip: str | None) -> None:
    """Visitor sign-ups (``kind="signup"``) and new conversations (``"session"``) per source IP."""
    if not source_ip:
        return
    config = get_config()
    limit = config.signups_per_ip if kind == "signup" else config.sessions_per_ip
    hit(f"{kind}-ip#{source_ip}", limit, config.per_ip_window_seconds,
        "sign-ups" if kind == "signup" else "new conversations")


KNOWN_IP_DAYS = 30


def _known_key(username: str, source_ip: str) -> str:
    return f"login-ok#{username.lower()}#{source_ip}"


def is_known_ip(username: str, source_ip: str | None) -> bool:
    """Whether ``username`` logged in successfully from ``source_ip`` within the last 30 days."""
    if not source_ip:
        return False
    try:
        marker = LimitModel.get(_known_key(username, source_ip))
    except DoesNotExist:
        return False
    return marker.expires_at > clock.epoch()


def record_login_success(username: str, source_ip: str | None) -> None:
    """Remember the address (so an attacker elsewhere cannot lock this agent out from it) and
    clear the username's failures."""
    if source_ip:
        known = LimitModel(_known_key(username, source_ip),
                           expires_at=int(clock.epoch() + KNOWN_IP_DAYS * 86400))
        retrying(known.save)
    retrying(LimitModel(f"login-user#{username.lower()}").delete)
