"""What a route promises: its body, query parameters, answers and errors, declared where the route
is (``responses.route(..., answers=...)``) and read back from the app's routes by ``openapi``.

Models are named, not imported: views must not pull in Pydantic at cold start. The names refer to
``api.bodies`` (bodies), ``api.queries`` (query parameters) and ``api.answers`` (answers); the
contract tests fail when a name does not resolve or a route declares nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

ATTRIBUTE = "kefu_contract"


class Contract(msgspec.Struct, frozen=True):
    """``answers``: status -> model name in ``api.answers`` (None: an empty body). ``errors``: the
    statuses of refusals the view itself gives (``{"error", "message"}``); the ones every route of
    its kind gives (401 with an authorizer; 400/413/422 with a body; 400/422 with parameters; 500)
    are added by ``openapi``. ``media``: other media types the first answer comes in. ``headers``:
    optional request headers the view reads (name -> what it does), e.g. ``If-Match``."""

    answers: Mapping[int, str | None]
    body: str | None = None
    query: str | None = None
    errors: tuple[int, ...] = ()
    media: tuple[str, ...] = ()
    headers: Mapping[str, str] = msgspec.field(default_factory=dict)
    summary: str = ""
    extra: Mapping[str, Any] = msgspec.field(default_factory=dict)


def attach(view: Any, contract: Contract | None) -> Any:
    if contract is not None:
        setattr(view, ATTRIBUTE, contract)
    return view


def of(view: Any) -> Contract | None:
    return getattr(view, ATTRIBUTE, None)
