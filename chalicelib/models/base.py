"""What every table shares: name from config, on-demand billing, the endpoint override; and the
one place where DynamoDB's errors are retried and translated.

botocore sends each request once (``max_retry_attempts = 0`` on every PynamoDB connection), so the
retries here see every attempt: a write retried inside botocore could meet its own success and come
back as a condition failure on what looks like a first try, and an ``ADD`` retried there applies
twice. Reads (``get``, ``query``, ``scan``, ``count`` on every model) and writes (``conditional``,
``Transaction.commit``, ``retrying``) are retried through ``retrying``: conflicts, throttling, 5xx
and lost connections, with capped exponential backoff and full jitter.

An attempt is *refused* (a conflict, throttling, a transaction cancelled only for those: nothing
was applied) or *ambiguous* (a 5xx, a lost connection: it may have been applied, its answer lost).
After an ambiguous attempt a retry may meet its own success: transactions keep their
``ClientRequestToken`` across it, so DynamoDB answers the retry with the first success; conditional
writes ask their ``already_done`` check. After a definite answer a transaction gets a new token.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError
from pynamodb.exceptions import DoesNotExist, PynamoDBException
from pynamodb.models import Model

from chalicelib import clock
from chalicelib.config import get_config
from chalicelib.errors import NotFound, Unavailable
from chalicelib.models.clients import with_client

# botocore's own retries are off: every attempt is made (and seen) by ``retrying``.
BOTOCORE_RETRIES = 0


def table_meta(key: str, ttl_attribute: str | None = None) -> type:
    """A PynamoDB ``Meta`` for the table known in config as ``key``."""
    config = get_config()
    attrs: dict[str, Any] = {
        "table_name": config.table_name(key),
        "region": config.region,
        "billing_mode": "PAY_PER_REQUEST",
        "config_key": key,
        "ttl_attribute": ttl_attribute,
        "max_pool_connections": 200,  # one client (and pool) serves every table (models/clients.py)
        "max_retry_attempts": BOTOCORE_RETRIES,
    }
    if config.dynamodb_endpoint:
        attrs["host"] = config.dynamodb_endpoint
    return type("Meta", (), attrs)


class KefuModel(Model):
    """Base model; subclasses set ``Meta = table_meta(...)``. Reads are retried like writes (an
    index's ``query`` and ``count`` go through the model's)."""

    @classmethod
    def _get_connection(cls) -> Any:
        table = super()._get_connection()
        with_client(table.connection)
        return table

    class Meta:
        abstract = True

    @classmethod
    def get(cls, hash_key: Any, range_key: Any = None, consistent_read: bool = False,
            attributes_to_get: Any = None) -> Any:
        read = super().get
        return retrying(lambda: read(hash_key, range_key, consistent_read=consistent_read,
                                     attributes_to_get=attributes_to_get))

    @classmethod
    def count(cls, *args: Any, **kwargs: Any) -> int:
        count = super().count
        return retrying(lambda: count(*args, **kwargs))

    @classmethod
    def query(cls, *args: Any, **kwargs: Any) -> Any:
        return RetriedResults(super().query(*args, **kwargs))

    @classmethod
    def scan(cls, *args: Any, **kwargs: Any) -> Any:
        return RetriedResults(super().scan(*args, **kwargs))

    # Writes retry what is always safe to send again: a refusal (nothing was applied), and, for a
    # write that applies the same however often it is sent (no condition, no counter), an
    # ambiguous failure too. A conditional or counting write retried after an ambiguous failure
    # may meet its own success: that is for ``conditional`` (with ``already_done``) or the
    # caller to decide, so the error goes up to it.
    def save(self, condition: Any = None, **kwargs: Any) -> Any:
        write = super().save
        return retrying(lambda: write(condition=condition, **kwargs), retry_if=_safe_retry(condition is None))

    def delete(self, condition: Any = None, **kwargs: Any) -> Any:
        write = super().delete
        return retrying(lambda: write(condition=condition, **kwargs), retry_if=_safe_retry(condition is None))

    def update(self, actions: list, condition: Any = None, **kwargs: Any) -> Any:
        write = super().update
        repeatable = condition is None and all(_is_repeatable(action) for action in actions)
        return retrying(lambda: write(actions=actions, condition=condition, **kwargs),
                        retry_if=_safe_retry(repeatable))


def _safe_retry(repeatable: bool) -> Callable[[Exception], bool]:
    return is_retryable if repeatable else is_refused


def _is_repeatable(action: Any) -> bool:
    """An update action that stores the same whether applied once or twice: SET to a value,
    REMOVE, and ADD / DELETE of set members (not ``ADD`` of a number, ``x = x + 1`` or a list
    append)."""
    from pynamodb.expressions.operand import Value
    from pynamodb.expressions.update import AddAction, RemoveAction, SetAction

    if isinstance(action, RemoveAction):
        return True
    operand = action.values[-1]
    if isinstance(action, SetAction):
        return isinstance(operand, Value)
    value = getattr(operand, "value", None) or {}
    return not isinstance(action, AddAction) or "N" not in value


class RetriedResults(Iterator[Any]):
    """A query's or scan's results, read page by page: a page whose read failed is read again
    (PynamoDB's iterator stays at the failed page). Everything else is the iterator's own
    (``last_evaluated_key``, ``total_count``...)."""

    def __init__(self, results: Any) -> None:
        self._results = results

    def __iter__(self) -> RetriedResults:
        return self

    def __next__(self) -> Any:
        return retrying(self._results.__next__)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._results, name)


CONDITION_FAILED = "ConditionalCheckFailed"
TRANSACTION_CONFLICT = "TransactionConflict"
# Answers that prove the request was not applied: retrying them can never apply a write twice.
REFUSED_CODES = frozenset({
    "TransactionConflictException",
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
})
# Answers after which the request may have been applied: a retry may meet its own success.
# (``TransactionInProgressException``: a transaction with the same token is still running.)
AMBIGUOUS_CODES = frozenset({
    "TransactionInProgressException",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
})
# A transaction cancelled only for these reasons applied nothing and was not refused for its
# conditions: DynamoDB throttled it, or it met another transaction on one of its items.
REFUSAL_REASONS = frozenset({TRANSACTION_CONFLICT, "ThrottlingError", "ProvisionedThroughputExceeded"})
RETRY_ATTEMPTS = 8
RETRY_BASE_SECONDS = 0.02
RETRY_CAP_SECONDS = 1.0
ROUND_CAP_SECONDS = 0.25

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
    """The HTTP status DynamoDB answered (PynamoDB keeps it on the botocore error it wraps)."""
    cause = getattr(error, "cause", None)
    for answer in (cause, getattr(cause, "__cause__", None)):
        status = (getattr(answer, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status is not None:
            return status
    return None


def _is_lost(error: Exception) -> bool:
    """No answer came back (reset, timeout): the request may or may not have been applied."""
    return isinstance(error, BotoCoreError) or isinstance(getattr(error, "cause", None), BotoCoreError)


def is_refused(error: Exception) -> bool:
    """Refused before applying (a conflict, throttling, a transaction cancelled only for those):
    unlike a 5xx or a lost connection, a retry cannot meet its own success. For writes that are
    not idempotent, such as an ``ADD``."""
    if not isinstance(error, PynamoDBException) or _is_lost(error):
        return False
    code = error.cause_response_code
    if code == "TransactionCanceledException":
        reasons = [c for c in cancellation_codes(error) if c and c != "None"]
        return bool(reasons) and all(c in REFUSAL_REASONS for c in reasons)
    return code in REFUSED_CODES


def is_ambiguous(error: Exception) -> bool:
    """The request may have been applied though it failed (a lost connection, a 5xx): its retry
    may meet its own success."""
    if _is_lost(error):
        return True
    if not isinstance(error, PynamoDBException):
        return False
    if error.cause_response_code in AMBIGUOUS_CODES:
        return True
    status = _status_of(error)
    return status is not None and status >= 500


def is_retryable(error: Exception) -> bool:
    """Worth sending again: refused (a conflict, throttling) or ambiguous (a 5xx, a lost
    connection)."""
    return is_refused(error) or is_ambiguous(error)


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
        clock.sleep(backoff(attempt))
    raise AssertionError("unreachable")


def rounds(count: int) -> Iterator[int]:
    """``range(count)`` for a loop that reads again and retries after losing a race: every round
    after the first starts with a short wait with jitter, so the racing writers spread out."""
    for round_ in range(count):
        if round_:
            clock.sleep(backoff(round_ - 1, cap=ROUND_CAP_SECONDS))
        yield round_


class _Attempts:
    """Wraps an operation for ``retrying`` and remembers whether any attempt may have applied."""

    def __init__(self, operation: Callable[[], Any]) -> None:
        self._operation = operation
        self.maybe_applied = False

    def __call__(self) -> Any:
        try:
            return self._operation()
        except (PynamoDBException, BotoCoreError) as e:
            self.maybe_applied = self.maybe_applied or is_ambiguous(e)
            raise


def conditional(operation: Callable[[], Any], already_done: Callable[[], bool] | None = None) -> bool:
    """A conditional write: True when it applied, False when its condition did not hold.

    ``already_done`` is asked after a condition failure that follows an ambiguous attempt (a lost
    answer, a 5xx): that attempt may have committed, so the retry met its own success. It reads
    the item and says whether what is stored is this call's write. Without it, such a write
    counts as not applied.
    """
    attempts = _Attempts(operation)
    try:
        retrying(attempts)
    except PynamoDBException as e:
        if not is_condition_failure(e):
            raise
        return attempts.maybe_applied and already_done is not None and already_done()
    return True


def update_answering(item: Model, actions: list, condition: Any) -> bool | None:
    """One conditional UpdateItem that answers either way, so the caller's next attempt needs no
    read: True with ``item`` refreshed to what the write left (``ALL_NEW``); False with ``item``
    refreshed to what failed the condition (DynamoDB's ``ReturnValuesOnConditionCheckFailure =
    ALL_OLD``); None when there is no such item. Retried like every write (``retrying``): after
    an ambiguous attempt a condition failure may be this call's own write, which the caller
    recognises in the values it gets back."""
    from pynamodb.connection.base import BOTOCORE_EXCEPTIONS
    from pynamodb.constants import ALL_NEW, ALL_OLD
    from pynamodb.exceptions import UpdateError

    model = type(item)
    connection = model._get_connection()
    hash_key, range_key = item._get_hash_range_key_serialized_values()
    request = connection.get_operation_kwargs(hash_key, range_key=range_key, actions=actions, condition=condition,
                                              return_values=ALL_NEW, return_values_on_condition_failure=ALL_OLD)

    def send() -> dict[str, Any]:
        # The botocore client itself: PynamoDB's error wrapper drops the ``Item`` of the answer.
        try:
            return connection.connection.client.update_item(**request)
        except BOTOCORE_EXCEPTIONS as e:  # as PynamoDB's own update raises, so ``retrying`` judges it alike
            raise UpdateError(f"Failed to update item: {e}", e) from e

    try:
        answer = retrying(send)
    except UpdateError as e:
        if not is_condition_failure(e):
            raise
        stored = (getattr(e.cause, "response", None) or {}).get("Item")
        if not stored:
            return None
        item.deserialize(stored)
        return False
    item.deserialize(answer["Attributes"])
    return True


def get_or_none(model: type[ModelT], hash_key: Any, range_key: Any = None) -> ModelT | None:
    """The item as stored now (strongly consistent), or None."""
    try:
        return model.get(hash_key, range_key, consistent_read=True)  # retried by KefuModel.get
    except DoesNotExist:
        return None


def stored_as(model: type[ModelT], hash_key: Any, expected: dict[str, Any]) -> ModelT | None:
    """The item as stored now if it holds every value in ``expected`` (attribute name: value),
    else None: how an ``already_done`` check recognises a write by what it wrote."""
    item = get_or_none(model, hash_key)
    if item is None or any(getattr(item, name) != value for name, value in expected.items()):
        return None
    return item


def fetch(model: type[ModelT], hash_key: Any, what: str) -> ModelT:
    """The item as stored now (strongly consistent); ``NotFound`` naming ``what`` otherwise."""
    item = get_or_none(model, hash_key)
    if item is None:
        raise NotFound(f"no {what} {hash_key}")
    return item


@functools.lru_cache(maxsize=4)
def _transaction_connection(region: str, host: str | None):
    from pynamodb.connection import Connection

    return Connection(region=region, host=host, max_pool_connections=200, max_retry_attempts=BOTOCORE_RETRIES)


def transaction_connection():
    """The one PynamoDB connection transactions use (its botocore client is made once)."""
    config = get_config()
    return with_client(_transaction_connection(config.region, config.dynamodb_endpoint))


class Transaction:
    """A ``TransactWrite`` whose actions are named, so a cancellation says which ones failed.

    PynamoDB sends condition checks, then deletes, then puts, then updates, whatever order they
    were added in; DynamoDB's cancellation reasons follow the request order. This keeps that
    bookkeeping in one place instead of in every caller. One instance is one logical transaction:
    ``commit`` retries it, keeping its ``ClientRequestToken`` after an attempt that may have
    applied (so DynamoDB answers the retry with the first success instead of applying twice) and
    taking a new one after an attempt that was refused. A round loop that reads again and
    rebuilds makes a new ``Transaction``.
    """

    _ORDER = ("check", "delete", "put", "update")

    def __init__(self) -> None:
        self.token = uuid.uuid4().hex
        self._actions: list[Callable[[Any], None]] = []
        self._names: dict[str, list[str]] = {kind: [] for kind in self._ORDER}
        self.failed_items: dict[str, dict[str, Any]] = {}  # action name -> stored item (``answer_failure``)

    def _add(self, kind: str, name: str, action: Callable[[Any], None]) -> None:
        self._actions.append(action)
        self._names[kind].append(name)

    def put(self, name: str, model: Any, condition: Any = None) -> None:
        self._add("put", name, lambda tx: tx.save(model, condition=condition))

    def update(self, name: str, model: Any, actions: list, condition: Any = None, *,
               answer_failure: bool = False) -> None:
        """``answer_failure``: when this action's condition fails, DynamoDB returns the item as it
        stands (``failed_items``), so the caller's next attempt needs no read."""
        return_values = "ALL_OLD" if answer_failure else None
        self._add("update", name, lambda tx: tx.update(model, actions=actions, condition=condition,
                                                       return_values=return_values))

    def delete(self, name: str, model: Any, condition: Any = None) -> None:
        self._add("delete", name, lambda tx: tx.delete(model, condition=condition))

    def check(self, name: str, model_cls: Any, hash_key: Any, condition: Any) -> None:
        self._add("check", name, lambda tx: tx.condition_check(model_cls, hash_key, condition=condition))

    def _send(self) -> None:
        from pynamodb.transactions import TransactWrite

        with TransactWrite(connection=transaction_connection(), client_request_token=self.token) as tx:
            for action in self._actions:
                action(tx)  # leaving the block commits

    def commit(self) -> dict[str, str]:
        """Run it; ``{}`` on success, else ``{action name: reason code}`` for each action whose
        condition failed (``ConditionalCheckFailed``...). Conflicts, throttling (also as a
        cancellation with reasons ``ThrottlingError`` / ``ProvisionedThroughputExceeded``) and lost
        answers are retried; ``Unavailable`` when DynamoDB still refuses it after every attempt,
        never a business outcome. Other errors propagate."""
        from pynamodb.exceptions import TransactWriteError

        attempts = _Attempts(self._send)

        def attempt() -> None:
            try:
                attempts()
            except PynamoDBException as e:
                if is_refused(e) and not attempts.maybe_applied:
                    self.token = uuid.uuid4().hex  # nothing of this transaction was applied
                raise

        try:
            retrying(attempt)
        except TransactWriteError as e:
            if is_refused(e):
                raise Unavailable("the database is busy; try again") from e
            codes = cancellation_codes(e)
            if not codes:
                raise
            ordered = [name for kind in self._ORDER for name in self._names[kind]]
            reasons = e.cancellation_reasons or []
            self.failed_items = {name: reason.raw_item for name, reason in zip(ordered, reasons, strict=False)
                                 if reason is not None and getattr(reason, "raw_item", None)}
            return {name: code for name, code in zip(ordered, codes, strict=False) if code and code != "None"}
        return {}
