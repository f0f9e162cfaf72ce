"""Callers from other loopback addresses (127.0.0.2, 127.0.0.3, ...): the local stack passes each
caller's own address to the app, as API Gateway does, so per-address limits can be driven for
real. Linux answers on the whole of 127.0.0.0/8 without setup."""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter

from devstack import Stack


class SourceAddressAdapter(HTTPAdapter):
    """Every connection of the session leaves from ``address``."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def session_from(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", SourceAddressAdapter(address))
    return session


def rest_from(stack: Stack, address: str, method: str, path: str, token: str | None = None,
              **kwargs: Any) -> requests.Response:
    """One REST call from ``address`` (a new connection each time: nothing shared between calls)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with session_from(address) as session:
        return session.request(method, f"{stack.rest_url}{path}", headers=headers, timeout=30, **kwargs)


def socket_options(address: str) -> dict[str, Any]:
    """Keyword arguments for ``ws_connect`` that open the socket from ``address``."""
    return {"source_address": (address, 0)}
