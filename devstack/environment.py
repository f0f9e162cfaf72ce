"""The environment the app reads, set before ``app`` / ``chalicelib`` is imported.

PynamoDB fixes table names and the endpoint when the models are imported, so the stack sets
everything first. What a caller already set wins (the test suite sets its own stage, table prefix
and secret, and its moto endpoint), except the credentials (always fake: the local stack must never
reach a real account) and the WebSocket URLs, which only the running stack knows.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_DIR / ".data"
REGION = "us-east-1"
JWT_SECRET_FILE = "jwt_secret"
IDENTITY_SECRET_FILE = "identity_secret"
OUTBOX_FILE = "outbox.jsonl"
LOCAL_MAIL_FROM = "kefu@example.com"
# Where a running stack says where it is, so that `python -m chalicelib.manage` finds it unaided.
STACK_FILE = "stack.json"

LOCAL_CORS_ORIGINS = "http://localhost:*,http://127.0.0.1:*"

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def write_private(path: Path, text: str) -> None:
    """Write a secret readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def _jwt_secret(data_dir: Path | None, name: str = JWT_SECRET_FILE) -> str:
    """One secret per data dir, so tokens issued before a restart stay valid after it (and the
    identity secret a shop's test server computes ``user_hash`` with stays the same)."""
    if data_dir is None:
        return secrets.token_urlsafe(32)
    path = data_dir / name
    if path.exists():
        saved = path.read_text(encoding="utf-8").strip()
        if saved:
            return saved
    secret = secrets.token_urlsafe(32)
    write_private(path, secret)
    return secret


def _chalice_environment() -> dict[str, str]:
    """The stage-independent ``environment_variables`` of ``.chalice/config.json``, as Lambda gets
    them (the stage ones name AWS resources, such as the SSM secret, that do not exist locally)."""
    path = PROJECT_DIR / ".chalice" / "config.json"
    if not path.exists():
        return {}
    variables = json.loads(path.read_text(encoding="utf-8")).get("environment_variables") or {}
    return {str(k): str(v) for k, v in variables.items()}


def prepare(data_dir: Path | None) -> None:
    """Everything but the endpoints the stack learns when it listens (see ``Stack.start``)."""
    os.environ.update(FAKE_CREDENTIALS)
    os.environ.pop("AWS_PROFILE", None)
    os.environ["AWS_DEFAULT_REGION"] = REGION
    os.environ["AWS_REGION"] = REGION
    os.environ.setdefault("KEFU_STAGE", "local")
    # The pages the stack serves are same-origin; this admits a widget or console under development
    # on any other local port.
    os.environ.setdefault("KEFU_CORS_ORIGINS", LOCAL_CORS_ORIGINS)
    # CloudWatch EMF lines have no reader locally; they would only bury the stack's own log.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    # Locally every browser tab comes from 127.0.0.1: per-address limits stay out of a developer's way.
    os.environ.setdefault("KEFU_SIGNUPS_PER_ADDRESS", "3000")
    os.environ.setdefault("KEFU_CONVERSATIONS_PER_ADDRESS", "3000")
    # The stack's handlers run as threads of one process: its assigners take turns per agent
    # instead of racing each other's transactions (a Lambda container serves one request at a time).
    os.environ.setdefault("KEFU_ASSIGNERS_SHARE_PROCESS", "1")
    for name, value in _chalice_environment().items():
        os.environ.setdefault(name, value)
    if not os.environ.get("KEFU_JWT_SECRET"):
        os.environ["KEFU_JWT_SECRET"] = _jwt_secret(data_dir)
    if not os.environ.get("KEFU_IDENTITY_SECRET") and not os.environ.get("KEFU_IDENTITY_SECRET_PARAMETER"):
        os.environ["KEFU_IDENTITY_SECRET"] = _jwt_secret(data_dir, IDENTITY_SECRET_FILE)
    # Mail goes to the local SES (moto), which accepts it from this verified sender.
    os.environ.setdefault("KEFU_MAIL_FROM", LOCAL_MAIL_FROM)


LOCAL_AWS_ENDPOINTS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SESV2")


def point_at_local_aws(endpoint: str) -> None:
    """S3 and SES on the same moto server as DynamoDB, unless the caller named others."""
    for name in LOCAL_AWS_ENDPOINTS:
        os.environ.setdefault(name, endpoint)


def float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


def is_true(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() not in ("0", "false", "no", "off")
