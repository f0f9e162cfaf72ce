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
        "POWERTOOLS_METRICS_DISABLED": "true",
        # Every test client comes from 127.0.0.1: per-IP limits generous unless a test tightens them.
        "KEFU_SIGNUPS_PER_IP": "100000",
        "KEFU_SESSIONS_PER_IP": "100000",
        "KEFU_LOGIN_IP_LIMIT": "100000",
    }
)
os.environ.pop("KEFU_JWT_SECRET_PARAMETER", None)

import atexit  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402


def _start_moto() -> tuple[subprocess.Popen, str]:
    """The moto server in its own process (see devstack/moto_backend.py for why it is atomic)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.moto_backend", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    address = process.stdout.readline().strip()
    if not address:
        raise RuntimeError("moto server did not start")
    atexit.register(process.terminate)
    return process, f"http://{address}"


_moto_process, MOTO_ENDPOINT = _start_moto()
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
