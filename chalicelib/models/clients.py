"""One botocore client per PynamoDB connection, made once even when threads race to its first use.

PynamoDB makes a connection's client lazily and without a lock: threads making their first call at
the same moment each build a botocore session and a client (loading the service's JSON models) and
all but one are thrown away. On Lambda (one request at a time per container) that never happens;
in the local stack's threaded servers and the test suite's races (200 threads) it cost minutes of
CPU and gigabytes of memory.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, TypeVar

C = TypeVar("C")

_lock = threading.Lock()
_ready: weakref.WeakSet[Any] = weakref.WeakSet()


def with_client(connection: C) -> C:
    """``connection`` (a PynamoDB ``Connection``) once its botocore client exists."""
    if connection not in _ready:
        with _lock:
            if connection not in _ready:
                connection.client  # noqa: B018 - the property makes the client
                _ready.add(connection)
    return connection
