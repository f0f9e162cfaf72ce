"""What every table shares: name from config, on-demand billing, the endpoint override."""

from __future__ import annotations

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


def transaction(client_request_token: str | None = None):
    """A ``TransactWrite`` on the configured endpoint (all kefu tables share one account)."""
    from pynamodb.connection import Connection
    from pynamodb.transactions import TransactWrite

    config = get_config()
    connection = Connection(region=config.region, host=config.dynamodb_endpoint)
    return TransactWrite(connection=connection, client_request_token=client_request_token)


def cancellation_codes(error: Exception) -> list[str | None]:
    """Per-action reason codes of a cancelled transaction (None where the action was fine)."""
    reasons = getattr(error, "cancellation_reasons", None) or []
    return [getattr(r, "code", None) if r is not None else None for r in reasons]
