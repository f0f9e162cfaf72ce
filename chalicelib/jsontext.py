"""JSON text from clients (REST bodies and WebSocket frames), parsed strictly."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.errors import InvalidJson


def strict_json(raw: bytes, what: str) -> Any:
    """``raw`` parsed as JSON; ``invalid_json`` for malformed, too deeply nested or not UTF-8
    encodable text (a lone surrogate escape such as ``"\\ud800"`` decodes but cannot be stored)."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidJson(f"{what} is not valid JSON") from e
    except RecursionError as e:
        raise InvalidJson(f"{what} is nested too deeply") from e
    try:
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError as e:
        raise InvalidJson(f"{what} contains a lone surrogate, which is not valid Unicode") from e
    except RecursionError as e:
        raise InvalidJson(f"{what} is nested too deeply") from e
    return data
