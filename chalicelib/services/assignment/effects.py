"""Effects after a commit (notices, dispatch): they never turn a committed operation into an
error. A failure is logged and left to the next trigger or the minute sweep."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.observability import count, logger


def after_commit(effect: str, action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``action``; on any error log it (with ``effect``) and carry on."""
    try:
        return action(*args, **kwargs)
    except Exception:  # the write is committed: the caller's answer must say so
        count("EffectFailures")
        logger.exception("effect after commit failed", effect=effect)
        return None
