"""Test environment: one moto server for the whole run, environment set before ``app`` is imported.

Everything (services, the Chalice test client, the real local stack) talks to the same moto server
over HTTP, so tests exercise the real client stack and concurrency tests race for real.
"""

from __future__ import annotations

import os
import secrets

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "KEFU_STAGE": "test",
        "KEFU_TABLE_PREFIX": "kefu-test",
        "KEFU_JWT_SECRET": secrets.token_urlsafe(32),
        "KEFU_PRESENCE_GRACE": os.environ.get("KEFU_PRESENCE_GRACE", "30"),
        "KEFU_HEARTBEAT_WINDOW": os.environ.get("KEFU_HEARTBEAT_WINDOW", "30"),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_NAMESPACE": "KefuTest",
    }
)
os.environ.pop("KEFU_JWT_SECRET_PARAMETER", None)

import logging  # noqa: E402

from moto.server import ThreadedMotoServer  # noqa: E402

logging.getLogger("werkzeug").setLevel(logging.ERROR)

_moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
_moto.start()
_host, _port = _moto.get_host_and_port()
MOTO_ENDPOINT = f"http://{_host}:{_port}"
os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = MOTO_ENDPOINT
# Pushes from code under test go to the local gateway when a stack runs; until then nowhere.
os.environ.setdefault("KEFU_WS_MANAGEMENT_ENDPOINT", "http://127.0.0.1:9")

import boto3  # noqa: E402
import pytest  # noqa: E402

from chalicelib.config import reload_config  # noqa: E402

reload_config()

from chalicelib.models.tables import all_table_specs, create_all_tables  # noqa: E402


def dynamodb_client():
    return boto3.client("dynamodb", endpoint_url=MOTO_ENDPOINT, region_name="us-east-1")


def reset_tables() -> None:
    """Drop and recreate every kefu table: each test starts from an empty database."""
    client = dynamodb_client()
    names = {spec["TableName"] for spec in all_table_specs().values()}
    for name in client.list_tables()["TableNames"]:
        if name in names:
            client.delete_table(TableName=name)
    create_all_tables(client)


@pytest.fixture
def tables():
    """An empty set of kefu tables on the moto server."""
    reset_tables()
    yield dynamodb_client()


@pytest.fixture(scope="session")
def moto_endpoint() -> str:
    return MOTO_ENDPOINT
