"""JSON text from clients (REST bodies and WebSocket frames), parsed strictly."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.errors import InvalidJson

# A number a client may store as it likes (identify's attributes): one a browser can hold exactly
# as an integer, and one DynamoDB can store (magnitudes 1E-130 to 9.99E+125: beyond, the write is
# refused, a 500 on AWS; moto stores it and then fails every read of the table).
MAX_CLIENT_NUMBER = 2**53 - 1
MIN_MAGNITUDE = 1e-130


def storable_number(value: float) -> float:
    if value != 0 and abs(value) < MIN_MAGNITUDE:
        raise ValueError(f"a number other than 0 must be at least {MIN_MAGNITUDE} in magnitude")
    return value


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
