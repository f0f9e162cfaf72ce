"""Opaque page cursors: what a listing needs to resume (a DynamoDB ``LastEvaluatedKey`` and which
query it belongs to), as URL-safe base64 of JSON. Clients pass ``next`` back unchanged; anything
else is a 400, never a query DynamoDB would refuse with a 500."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

import msgspec

from chalicelib.errors import BadRequest

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(msgspec.Struct, Generic[T], frozen=True):
    items: list[T]
    next: str | None  # pass as ``cursor`` for the following page; None on the last page


def encode(state: dict[str, Any] | None) -> str | None:
    if state is None:
        return None
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        state = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as e:
        raise BadRequest("invalid cursor") from e
    if not isinstance(state, dict):
        raise BadRequest("invalid cursor")
    return state


def start_key(state: dict[str, Any] | None, key_names: Iterable[str],
              fixed: dict[str, str] | None = None) -> dict[str, Any] | None:
    """The ``LastEvaluatedKey`` kept in ``state["key"]``, checked to be a key of the query being
    resumed: exactly ``key_names``, string values, and the ``fixed`` ones (the partition queried)."""
    if state is None or state.get("key") is None:
        return None
    key = state["key"]
    if not isinstance(key, dict) or set(key) != set(key_names):
        raise BadRequest("invalid cursor")
    for value in key.values():
        if not (isinstance(value, dict) and list(value) == ["S"] and isinstance(value["S"], str)):
            raise BadRequest("invalid cursor")
    for name, value in (fixed or {}).items():
        if key[name]["S"] != value:
            raise BadRequest("invalid cursor")
    return key
