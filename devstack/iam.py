"""IAM on the local stack: a function may touch only the tables its deployed role allows.

In AWS each function runs with the role ``infra.generate`` writes from its declared needs
(``TABLES_USED`` / ``TABLES_USED_BY``); any other table answers ``AccessDeniedException``. The
local stack runs every function in one process with one set of credentials, so without this a
function reaching a table its role lacks would work here and fail only once deployed. While the
stack runs a WebSocket route or a schedule (``acting_as``), each DynamoDB request its PynamoDB
clients send names its tables, and one outside the role is refused the way IAM refuses it.
Work a handler hands to other threads runs unchecked (the role is known per calling thread).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

_acting = threading.local()


def tables_in(params: dict[str, Any]) -> set[str]:
    """The table names a DynamoDB request names (single-item, batch and transaction calls)."""
    names = {params["TableName"]} if "TableName" in params else set()
    names |= set(params.get("RequestItems") or {})
    for item in params.get("TransactItems") or []:
        names |= {action["TableName"] for action in item.values() if "TableName" in action}
    return names


def allowed_tables(handler_string: str) -> frozenset[str]:
    """The table names the role of the function ``module.function`` allows (this stage's names)."""
    from chalicelib.config import get_config
    from infra.generate import function_needs

    names = get_config().table_names
    return frozenset(names[key] for key in function_needs(handler_string).tables)


@contextlib.contextmanager
def acting_as(handler_string: str) -> Iterator[None]:
    """Requests sent from this thread inside the block are checked against that function's role."""
    previous = getattr(_acting, "role", None)
    _acting.role = (handler_string, allowed_tables(handler_string))
    try:
        yield
    finally:
        _acting.role = previous


def _check(params: dict[str, Any], model: Any = None, **_: Any) -> None:
    role = getattr(_acting, "role", None)
    if role is None:
        return
    handler_string, allowed = role
    denied = sorted(tables_in(params) - allowed)
    if denied:
        operation = getattr(model, "name", "DynamoDB")
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": (
            f"the role of {handler_string} is not authorized to perform dynamodb:{operation} "
            f"on {', '.join(denied)} (declare the table in TABLES_USED / TABLES_USED_BY)")}}, operation)


def enforce() -> None:
    """From now on, every PynamoDB client checks the acting function's role before sending."""
    from pynamodb.connection.base import Connection

    made_by_pynamodb = getattr(Connection.client, "fget", None)
    if getattr(made_by_pynamodb, "kefu_iam", False):
        return

    def client(connection: Connection) -> Any:
        made = made_by_pynamodb(connection)
        if not getattr(made, "_kefu_iam", False):
            # unique_id: two threads meeting a new client register the check once
            made.meta.events.register("provide-client-params.dynamodb", _check, unique_id="kefu-iam")
            made._kefu_iam = True
        return made

    client.kefu_iam = True  # type: ignore[attr-defined]
    Connection.client = property(client)  # type: ignore[method-assign]
