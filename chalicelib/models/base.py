"""What every table shares: name from config, on-demand billing, the endpoint override."""

from __future__ import annotations

import functools
from typing import Any

from pynamodb.models import Model

from chalicelib.config import get_config


def table_meta(key: str, ttl_attribute: str | None = None) -> type:
    """A PynamoDB ``Meta`` for the table known in config as ``key``."""
    config = get_config()
    attrs: dict[str, Any] = {
        "table_name": config.table_name(key),
        "region": config.region,
        "billing_mode": "PAY_PER_REQUEST",
        "config_key": key,
        "ttl_attribute": ttl_attribute,
        "max_pool_connections": 50,
    }
    if config.dynamodb_endpoint:
        attrs["host"] = config.dynamodb_endpoint
    return type("Meta", (), attrs)


class KefuModel(Model):
    """Base model; subclasses set ``Meta = table_meta(...)``."""

    class Meta:
        abstract = True


def is_condition_failure(error: Exception) -> bool:
    """True when a PynamoDB write failed only because its condition did not hold."""
    cause = getattr(error, "cause_response_code", None)
    return cause == "ConditionalCheckFailedException"


@functools.lru_cache(maxsize=4)
def _transaction_connection(region: str, host: str | None):
    from pynamodb.connection import Connection

    return Connection(region=region, host=host, max_pool_connections=50)


def transaction_connection():
    """The one PynamoDB connection transactions use (its botocore client is made once)."""
    config = get_config()
    return _transaction_connection(config.region, config.dynamodb_endpoint)


CONDITION_FAILED = "ConditionalCheckFailed"


class Transaction:
    """A ``TransactWrite`` whose actions are named, so a cancellation says which ones failed.

    PynamoDB sends condition checks, then deletes, then puts, then updates, whatever order they
    were added in; DynamoDB's cancellation reasons follow the request order. This keeps that
    bookkeeping in one place instead of in every caller.
    """

    _ORDER = ("check", "delete", "put", "update")

    def __init__(self, client_request_token: str | None = None) -> None:
        from pynamodb.transactions import TransactWrite

        self._tx = TransactWrite(connection=transaction_connection(), client_request_token=client_request_token)
        self._names: dict[str, list[str]] = {kind: [] for kind in self._ORDER}

    def put(self, name: str, model: Any, condition: Any = None) -> None:
        self._tx.save(model, condition=condition)
        self._names["put"].append(name)

    def update(self, name: str, model: Any, actions: list, condition: Any = None) -> None:
        self._tx.update(model, actions=actions, condition=condition)
        self._names["update"].append(name)

    def delete(self, name: str, model: Any, condition: Any = None) -> None:
        self._tx.delete(model, condition=condition)
        self._names["delete"].append(name)

    def commit(self) -> dict[str, str]:
        """Run it; ``{}`` on success, else ``{action name: reason code}`` for each failed action
        (``ConditionalCheckFailed``, ``TransactionConflict``...). Other errors propagate."""
        from pynamodb.exceptions import TransactWriteError

        try:
            with self._tx:
                pass  # leaving the block commits
        except TransactWriteError as e:
            codes = cancellation_codes(e)
            if not codes:
                raise
            ordered = [name for kind in self._ORDER for name in self._names[kind]]
            return {name: code for name, code in zip(ordered, codes, strict=False) if code and code != "None"}
        return {}


def cancellation_codes(error: Exception) -> list[str | None]:
    """Per-action reason codes of a cancelled transaction (None where the action was fine)."""
    reasons = getattr(error, "cancellation_reasons", None) or []
    return [getattr(r, "code", None) if r is not None else None for r in reasons]
