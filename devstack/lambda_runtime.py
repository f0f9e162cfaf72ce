"""What Lambda gives a handler besides the event: a context object, and the handler itself.

Powertools' ``logger.inject_lambda_context`` reads ``function_name``, ``memory_limit_in_mb``,
``invoked_function_arn`` and ``aws_request_id``, so every local invocation gets a real-looking one.
"""

from __future__ import annotations

import importlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ACCOUNT_ID = "123456789012"
MEMORY_MB = 512
TIMEOUT_SECONDS = 30

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaContext:
    """The attributes of the Python runtime's context object that handlers and Powertools read."""

    function_name: str
    region: str = "us-east-1"
    memory_limit_in_mb: int = MEMORY_MB
    timeout_seconds: int = TIMEOUT_SECONDS
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None
    _started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self.log_stream_name = self.log_stream_name or "devstack"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self._started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


def function_name(app_name: str, stage: str, handler_name: str) -> str:
    """Chalice names each deployed function ``{app}-{stage}-{handler}``; logs read the same here."""
    return f"{app_name}-{stage}-{handler_name}"


def resolve_handler(app_module: Any, name: str, handler_string: str) -> Handler:
    """The function Lambda would call for a handler: ``handler_string`` is what Chalice deploys
    (``app.ws_connect``, or ``chalicelib.jobs.x.f`` for a Blueprint), so blueprint handlers
    resolve too; ``app.handler_map`` is the fallback."""
    module_name, _, attribute = handler_string.rpartition(".")
    if module_name:
        module = app_module if module_name == app_module.__name__ else importlib.import_module(module_name)
        handler = getattr(module, attribute, None)
        if callable(handler):
            return handler
    handler = getattr(app_module, name, None) or app_module.app.handler_map.get(name)
    if not callable(handler):
        raise LookupError(f"no handler {name!r} ({handler_string}) in the app")
    return handler
