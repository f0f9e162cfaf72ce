"""What every table shares: name from config, on-demand billing, the endpoint override; and the
one place where DynamoDB's errors are retried and translated.

Every write goes through ``retrying`` (plain writes through ``conditional``, transactions through
``Transaction.commit``): ``TransactionConflictException`` (which botocore does not retry),
throttling, 5xx and lost connections are retried with capped exponential backoff and full jitter.
A retried write may meet its own success (the first attempt committed, its response was lost):
transactions carry one ``ClientRequestToken`` across their retries, so DynamoDB answers the retry
with the first success; conditional writes take an ``already_done`` check that recognises it.
"""

from __future__ import annotations

import functools
import random
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError
from pynamodb.exceptions import DoesNotExist, PynamoDBException
from pynamodb.models import Model

from chalicelib.config import get_config
from chalicelib.errors import NotFound


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


CONDITION_FAILED = "ConditionalCheckFailed"
TRANSACTION_CONFLICT = "TransactionConflict"
RETRYABLE_CODES = frozenset({
    "TransactionConflictException",
    "TransactionInProgressException",
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
})
# Answers that prove the request was not applied: retrying them can never apply a write twice.
REFUSED_CODES = frozenset({
    "TransactionConflictException",
    "TransactionInProgressException",
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
})
RETRY_ATTEMPTS = 8
RETRY_BASE_SECONDS = 0.02
RETRY_CAP_SECONDS = 1.0

T = TypeVar("T")
ModelT = TypeVar("ModelT", bound=Model)


def is_condition_failure(error: Exception) -> bool:
    """True when a PynamoDB write failed only because its condition did not hold."""
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


def cancellation_codes(error: Exception) -> list[str | None]:
    """Per-action reason codes of a cancelled transaction (None where the action was fine)."""
    reasons = getattr(error, "cancellation_reasons", None) or []
    return [getattr(r, "code", None) if r is not None else None for r in reasons]


def _status_of(error: Exception) -> int | None:
    cause = getattr(error, "cause", None)
    response = getattr(cause, "response", None) or {}
    return response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def is_retryable(error: Exception) -> bool:
    """Worth sending again: a conflict, throttling, a 5xx, a lost connection, or a transaction
    cancelled only because it met another one."""
    if not isinstance(error, PynamoDBException):
        return isinstance(error, BotoCoreError)
    if isinstance(getattr(error, "cause", None), BotoCoreError):
        return True  # connection reset, timeout: the request may or may not have been applied
    code = error.cause_response_code
    if code in RETRYABLE_CODES:
        return True
    if code == "TransactionCanceledException":
        codes = [c for c in cancellation_codes(error) if c and c != "None"]
        return bool(codes) and all(c == TRANSACTION_CONFLICT for c in codes)
    status = _status_of(error)
    return status is not None and status >= 500


def is_refused(error: Exception) -> bool:
    """Refused before applying (a conflict, throttling): unlike a 5xx or a lost connection, a
    retry cannot meet its own success. For writes that are not idempotent, such as an ``ADD``."""
    if not isinstance(error, PynamoDBException) or isinstance(getattr(error, "cause", None), BotoCoreError):
        return False  # a lost connection: the request may have been applied
    return error.cause_response_code in REFUSED_CODES


def backoff(attempt: int, base: float = RETRY_BASE_SECONDS, cap: float = RETRY_CAP_SECONDS) -> float:
    """Full jitter: a random wait up to the capped exponential step."""
    return random.uniform(0, min(cap, base * (2 ** attempt)))


def retrying(operation: Callable[[], T], attempts: int = RETRY_ATTEMPTS,
             retry_if: Callable[[Exception], bool] = is_retryable) -> T:
    """Run ``operation``; retry the DynamoDB errors ``retry_if`` accepts (by default every
    retryable one) with backoff and jitter; re-raise the rest (and the last retried one when
    attempts run out)."""
    for attempt in range(attempts):
        try:
            return operation()
        except (PynamoDBException, BotoCoreError) as e:
            if attempt == attempts - 1 or not retry_if(e):
                raise
        time.sleep(backoff(attempt))
    raise AssertionError("unreachable")


def conditional(operation: Callable[[], Any], already_done: Callable[[], bool] | None = None) -> bool:
    """A conditional write: True when it applied, False when its condition did not hold.

    ``already_done`` is asked after a condition failure that follows a retry: the first attempt
    may have committed with its response lost, so the write meets its own success.
    """
    tried = 0

    def attempt() -> Any:
        nonlocal tried
        tried += 1
        return operation()

    try:
        retrying(attempt)
    except PynamoDBException as e:
        if not is_condition_failure(e):
            raise
        return tried > 1 and already_done is not None and already_done()
    return True


def get_or_none(model: type[ModelT], hash_key: Any, range_key: Any = None) -> ModelT | None:
    """The item as stored now (strongly consistent), or None."""
    try:
        return retrying(lambda: model.get(hash_key, range_key, consistent_read=True))
    except DoesNotExist:
        return None


def fetch(model: type[ModelT], hash_key: Any, what: str) -> ModelT:
    """The item as stored now (strongly consistent); ``NotFound`` naming ``what`` otherwise."""
    item = get_or_none(model, hash_key)
    if item is None:
        raise NotFound(f"no {what} {hash_key}")
    return item


@functools.lru_cache(maxsize=4)
def _transaction_connection(region: str, host: str | None):
    from pynamodb.connection import Connection

    return Connection(region=region, host=host, max_pool_connections=50)


def transaction_connection():
    """The one PynamoDB connection transactions use (its botocore client is made once)."""
    config = get_config()
    return _transaction_connection(config.region, config.dynamodb_endpoint)


class Transaction:
    """A ``TransactWrite`` whose actions are named, so a cancellation says which ones failed.

    PynamoDB sends condition checks, then deletes, then puts, then updates, whatever order they
    were added in; DynamoDB's cancellation reasons follow the request order. This keeps that
    bookkeeping in one place instead of in every caller. One instance is one logical transaction:
    its ``ClientRequestToken`` stays the same across the retries of ``commit``, so a retry after a
    lost response is answered with the first success instead of applying twice.
    """

    _ORDER = ("check", "delete", "put", "update")

    def __init__(self, client_request_token: str | None = None) -> None:
        from pynamodb.transactions import TransactWrite

        self.token = client_request_token or uuid.uuid4().hex
        self._tx = TransactWrite(connection=transaction_connection(), client_request_token=self.token)
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

    def check(self, name: str, model_cls: Any, hash_key: Any, condition: Any) -> None:
        self._tx.condition_check(model_cls, hash_key, condition=condition)
        self._names["check"].append(name)

    def _send(self) -> None:
        with self._tx:
            pass  # leaving the block commits

    def commit(self) -> dict[str, str]:
        """Run it (retrying conflicts, throttling and lost responses); ``{}`` on success, else
        ``{action name: reason code}`` for each failed action (``ConditionalCheckFailed``...).
        Other errors propagate."""
        from pynamodb.exceptions import TransactWriteError

        try:
            retrying(self._send)
        except TransactWriteError as e:
            codes = cancellation_codes(e)
            if not codes:
                raise
            ordered = [name for kind in self._ORDER for name in self._names[kind]]
            return {name: code for name, code in zip(ordered, codes, strict=False) if code and code != "None"}
        return {}
