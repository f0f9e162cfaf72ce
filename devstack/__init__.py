"""The local stack behind ``make run``: moto for DynamoDB, the Chalice app over HTTP, a WebSocket
gateway with its ``@connections`` API, and the app's schedules. Dev tooling, never deployed.

Importing this package imports neither ``app`` nor ``chalicelib``: the stack must set the
environment first, because PynamoDB fixes table names when the models are imported. ``Stack`` is
loaded on first use, so ``python -m devstack.moto_backend`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devstack.stack import Stack

__all__ = ["Stack"]


def __getattr__(name: str) -> Any:
    if name == "Stack":
        from devstack.stack import Stack

        return Stack
    raise AttributeError(f"module 'devstack' has no attribute {name!r}")
