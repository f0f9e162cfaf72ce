"""One botocore client per PynamoDB connection, made once even when threads race to its first use.

PynamoDB makes a connection's client lazily and without a lock: threads making their first call at
the same moment each build a botocore session and a client (loading the service's JSON models) and
all but one are thrown away. On Lambda (one request at a time per container) that never happens;
in the local stack's threaded servers and the test suite's races (200 threads) it cost minutes of
CPU and gigabytes of memory.

Each connection also has a botocore session of its own, and each session its own loader, which
reads and parses the service's JSON models again: with one loader shared (botocore's public
``register_component``) they are parsed once per process, not once per table.
"""

from __future__ import annotations

import functools
import threading
import weakref
from typing import Any, TypeVar

from botocore.loaders import create_loader

C = TypeVar("C")

_lock = threading.Lock()
_ready: weakref.WeakSet[Any] = weakref.WeakSet()


@functools.lru_cache(maxsize=1)
def _shared_loader() -> Any:
    return create_loader()


def with_client(connection: C) -> C:
    """``connection`` (a PynamoDB ``Connection``) once its botocore client exists."""
    if connection not in _ready:
        with _lock:
            if connection not in _ready:
                connection.session.register_component("data_loader", _shared_loader())
                connection.client  # noqa: B018 - the property makes the client
                _ready.add(connection)
    return connection
