"""The app's DynamoDB requests go unsigned to kefu's own embedded backend.

moto checks no signature, and SigV4 signing is about a fifth of the client's CPU per call
(``benchmarks/local_backend.py`` prints ``client_cpu_ratio_unsigned_over_signed``): on the local
stack, where the app and its DynamoDB share two cores, that is CPU taken from the backend. Only
for our backend, known by its ``GET /_kefu/sim`` answer: DynamoDB Local or any other endpoint keeps
signed requests. Without a signature moto files the request under its default account and
``us-east-1``, as it does for the fake credentials the stack sets (``environment.REGION``).
``KEFU_SIGN_LOCAL_REQUESTS=1`` keeps signing (to compare, or against a proxy that checks).

Posts to the local gateway's ``@connections`` API go unsigned too (``post_unsigned``): it checks no
signature either, and every push of the stack goes there.
"""

from __future__ import annotations

import logging
import urllib.request
from typing import Any

import botocore

from devstack import environment

log = logging.getLogger(__name__)
SIM_PATH = "/_kefu/sim"


def is_embedded_backend(endpoint: str) -> bool:
    """Whether ``endpoint`` is a ``devstack.moto_backend`` (it answers its sim's knobs)."""
    try:
        with urllib.request.urlopen(f"{endpoint.rstrip('/')}{SIM_PATH}", timeout=5) as answer:
            return answer.status == 200
    except OSError:
        return False


def _no_signer(**_: Any) -> Any:
    return botocore.UNSIGNED


def send_unsigned_to(endpoint: str) -> bool:
    """From now on, PynamoDB clients made for ``endpoint`` sign nothing. Returns whether it applies."""
    if environment.is_true("KEFU_SIGN_LOCAL_REQUESTS", False) or not is_embedded_backend(endpoint):
        return False
    from pynamodb.connection.base import Connection

    made_by_pynamodb = getattr(Connection.client, "fget", None)
    if getattr(made_by_pynamodb, "unsigned_endpoints", None) is not None:
        made_by_pynamodb.unsigned_endpoints.add(endpoint)
        return True

    def client(connection: Connection) -> Any:
        made = made_by_pynamodb(connection)
        if connection.host in client.unsigned_endpoints and not getattr(made, "_kefu_unsigned", False):
            # unique_id: two threads meeting a new client register the handler once
            made.meta.events.register("choose-signer.dynamodb", _no_signer, unique_id="kefu-unsigned")
            made._kefu_unsigned = True
        return made

    client.unsigned_endpoints = {endpoint}  # type: ignore[attr-defined]
    Connection.client = property(client)  # type: ignore[method-assign]
    log.info("DynamoDB requests to %s go unsigned (the embedded backend checks no signature)", endpoint)
    return True


def post_unsigned() -> bool:
    """From now on, ``@connections`` clients (the local gateway's: the stack's only management
    API) sign nothing. Returns whether it applies."""
    if environment.is_true("KEFU_SIGN_LOCAL_REQUESTS", False):
        return False
    from chalicelib.models.clients import register_handler

    register_handler("choose-signer.apigatewaymanagementapi", _no_signer, "kefu-unsigned-posts")
    return True
