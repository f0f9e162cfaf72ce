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
        # Most test clients come from 127.0.0.1: per-address limits out of the way unless a test
        # sets them (tests/api/test_limits_api.py, tests/e2e/test_address_limits_e2e.py).
        "KEFU_SIGNUPS_PER_ADDRESS": "100000",
        "KEFU_CONVERSATIONS_PER_ADDRESS": "100000",
        "KEFU_LOGIN_FREE_PER_ADDRESS": "100000",
        "KEFU_IDENTITY_SECRET": secrets.token_urlsafe(32),
        "KEFU_MAIL_FROM": "kefu@example.com",
        "KEFU_ATTACHMENTS_BUCKET": "kefu-test-attachments",
        # Cheap password hashes (as Django's test settings do): the suite hashes for thousands of
        # agents and logins, and at the production cost (2**14) that was a tenth of its CPU time.
        "KEFU_PASSWORD_SCRYPT_N": "1024",
    }
)
os.environ.pop("KEFU_IDENTITY_SECRET_PARAMETER", None)
os.environ.pop("KEFU_JWT_SECRET_PARAMETER", None)

import atexit  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402

# Every mail the test backend's SES sends, one JSON object a line (devstack/outbox.py).
OUTBOX = Path(tempfile.mkdtemp(prefix="kefu-outbox-")) / "outbox.jsonl"
os.environ["KEFU_OUTBOX_FILE"] = str(OUTBOX)


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
os.environ["AWS_ENDPOINT_URL_S3"] = MOTO_ENDPOINT  # attachments and mail on the same moto server
os.environ["AWS_ENDPOINT_URL_SESV2"] = MOTO_ENDPOINT
# Pushes from code under test go to the local gateway when a stack runs; until then nowhere.
os.environ.setdefault("KEFU_WS_MANAGEMENT_ENDPOINT", "http://127.0.0.1:9")

import boto3  # noqa: E402
import pytest  # noqa: E402

from chalicelib.config import reload_config  # noqa: E402

reload_config()

from chalicelib.models.tables import all_table_specs  # noqa: E402
from devstack.aws_local import prepare as prepare_s3_and_ses  # noqa: E402

prepare_s3_and_ses(MOTO_ENDPOINT, "us-east-1", os.environ["KEFU_ATTACHMENTS_BUCKET"],
                   ["http://localhost:*", "http://127.0.0.1:*"], os.environ["KEFU_MAIL_FROM"])

from devstack import fast_headers  # noqa: E402
from devstack.unsigned import send_unsigned_to  # noqa: E402

fast_headers.install()  # as the stack's processes do: header blocks parsed without the email package

# As the stack does: the app's DynamoDB requests to our own backend go unsigned (a fifth of the
# client's CPU per call, on machines where the suite is bound by CPU).
send_unsigned_to(MOTO_ENDPOINT)


def sent_mail() -> list[dict]:
    """Every mail sent so far through the test backend's SES (oldest first)."""
    if not OUTBOX.exists():
        return []
    return [json.loads(line) for line in OUTBOX.read_text(encoding="utf-8").splitlines() if line.strip()]


def dynamodb_client():
    return boto3.client("dynamodb", endpoint_url=MOTO_ENDPOINT, region_name="us-east-1")


def reset_tables() -> None:
    """Drop and recreate every kefu table: each test starts from an empty database. The backend
    does it in one request (devstack/table_reset.py), as the same DeleteTable / CreateTable /
    UpdateTimeToLive operations the API would take fifty requests for."""
    request = urllib.request.Request(f"{MOTO_ENDPOINT}/_kefu/tables/reset", method="POST",
                                     data=json.dumps({"tables": list(all_table_specs().values())}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()


@pytest.fixture
def tables():
    """An empty set of kefu tables on the moto server."""
    reset_tables()
    yield dynamodb_client()


@pytest.fixture(autouse=True)
def _cold_container():
    """Every test starts as a fresh Lambda container: nothing cached, no statistics unflushed
    (a test's tables are new, so what an earlier test's container remembered is not there)."""
    from chalicelib.services import container, wsstats

    container.forget_all()
    wsstats.discard()
    yield


@pytest.fixture(scope="session")
def moto_endpoint() -> str:
    return MOTO_ENDPOINT


@pytest.fixture
def settings(monkeypatch):
    """``settings(KEFU_LOGIN_FREE_PER_ACCOUNT=3, ...)``: change KEFU_* settings for one test (the
    app, and a stack running in this process, read the same config); the originals come back
    afterwards."""

    def apply(**values: str | int | float) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, str(value))
        reload_config()

    yield apply
    monkeypatch.undo()
    reload_config()


@pytest.fixture
def time_passes():
    """``time_passes(seconds)``: every later clock reading is that much later (the clock seam);
    real time again after the test."""
    from chalicelib import clock

    yield clock.advance
    clock.reset()


# ---- the simulated AWS (devstack/sim.py, docs/local-stack.md) --------------------------------
# The whole run shares one backend, so its faults are switched per test. Unit and api tests run on
# plain moto ("off"); tests/e2e and tests/concurrency default to "aws" (their conftest overrides
# ``sim_default``). ``KEFU_SIM=aws|off`` forces one mode for every test; ``KEFU_SIM_SEED`` fixes the
# seed (otherwise each test draws one, printed in the report of a failing test).

_sim_in_use: dict = {}


def configure_sim(mode: str = "off", **knobs) -> dict:
    """Switch the shared backend: ``mode`` "aws" (AWS defaults) or "off" (plain moto), knobs by
    name (``gsi_lag_ms``, ``lag_spike``, ``throttle``, ``ttl_delay_s``, ``seed``...: the table in
    docs/local-stack.md) override the mode's values. Returns the configuration now in force."""
    request = urllib.request.Request(f"{MOTO_ENDPOINT}/_kefu/sim", data=json.dumps({"mode": mode, **knobs}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            config = json.loads(response.read())
    except urllib.error.HTTPError as e:
        raise ValueError(e.read().decode()) from e
    _sim_in_use.clear()
    _sim_in_use.update(config)
    return config


def _seed() -> int | None:
    raw = os.environ.get("KEFU_SIM_SEED")
    return int(raw) if raw else None


def _knobs_from_environment() -> dict:
    """``KEFU_SIM_<KNOB>=value`` for each test's default configuration, as for ``make run``
    (e.g. ``KEFU_SIM_LAG_SPIKE=0`` to see whether a failure needs the lag spikes)."""
    return {name[len("KEFU_SIM_"):].lower(): value for name, value in os.environ.items()
            if name.startswith("KEFU_SIM_") and name != "KEFU_SIM_SEED" and value}


@contextlib.contextmanager
def simulated_aws(mode: str = "aws", **knobs):
    """``with simulated_aws(gsi_lag_ms=500, tx_conflict=1.0) as config:`` the backend misbehaves so
    inside the block; the configuration before it comes back afterwards (same knobs, fresh seed
    sequence)."""
    previous = dict(_sim_in_use)
    knobs.setdefault("seed", _seed())
    try:
        yield configure_sim(mode, **knobs)
    finally:
        if previous:
            configure_sim(**previous)


@pytest.fixture
def sim_default() -> str:
    """The sim mode a test runs under unless it switches; directories override this fixture."""
    return "off"


@pytest.fixture(autouse=True)
def _sim_for_each_test(request, sim_default):
    mode = os.environ.get("KEFU_SIM") or sim_default
    config = configure_sim(mode, seed=_seed(), **_knobs_from_environment())
    request.node.kefu_sim = config
    yield config


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    config = getattr(item, "kefu_sim", None)
    if report.failed and config:
        current = _sim_in_use or config
        report.sections.append(("kefu sim", f"mode={config['mode']} KEFU_SIM_SEED={config['seed']} "
                                f"(at failure: {json.dumps(current, sort_keys=True)})"))


# The few long tests (minutes of racing threads) start first, so that on two workers (``make
# test`` runs pytest-xdist) they overlap the hundreds of short ones instead of running after them.
# They stay together on the first worker's slice: run beside one another they compete for the one
# moto server and each takes longer (measured: the 200-customer test took 261 s beside the soak, 188 s before it).
LONG_TESTS = (
    "test_200_simultaneous_customers_fill_10_agents_exactly_and_queue_the_rest_fifo",
    "test_the_desk_keeps_every_promise_through_a_soak_of_agents_and_customers",
    "TestAssignment",
    "tests/analytics/test_analytics.py",  # whole: its module-scoped world is built once, not per split
    "test_the_load_script_loses_and_duplicates_nothing_through_real_sockets",  # a stack of its own, ~1 min
)


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        return next((i for i, name in enumerate(LONG_TESTS) if name in item.nodeid), len(LONG_TESTS))

    items.sort(key=rank)  # stable: otherwise in collection order
