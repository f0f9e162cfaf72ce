"""Every setting kefu reads from the environment, in one typed object.

Table names are fixed when the models are imported (PynamoDB reads ``Meta.table_name`` at class
creation), so the environment must be set before ``chalicelib.models`` is imported: Lambda sets it
from ``.chalice/config.json``; tests and the local stack set it first thing.
"""

from __future__ import annotations

import functools
import os

import msgspec

TABLE_KEYS = (
    "connections",
    "visitors",
    "agents",
    "sessions",
    "messages",
    "message_keys",
    "assignments",
    "counters",
    "reports",
    "ws_stats",
    "limits",
    "metrics",
    "activity",
    "settings",
    "attachments",
    "canned_responses",
    "customer_terms",
    "ws_tickets",
)
# What the chat core (the WebSocket functions, the sweeps) may touch: every table but the reports
# and the saved replies (REST only) and the connect tickets (only ``$connect`` spends them).
CHAT_CORE_TABLES = tuple(key for key in TABLE_KEYS if key not in ("reports", "canned_responses", "ws_tickets"))


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


def _opt(name: str) -> str | None:
    return os.environ.get(name) or None


class Config(msgspec.Struct, frozen=True):
    app_name: str
    stage: str
    region: str
    table_prefix: str
    dynamodb_endpoint: str | None
    ws_management_endpoint: str | None
    websocket_url: str | None
    jwt_secret: str | None
    jwt_secret_parameter: str | None
    jwt_previous_secret: str | None
    visitor_token_ttl_seconds: int
    agent_token_ttl_seconds: int
    connection_ttl_seconds: int
    heartbeat_window_seconds: float
    presence_grace_seconds: float
    assignment_ttl_seconds: int
    message_retention_days: int
    default_agent_capacity: int
    candidate_page_size: int
    ws_rate_limit: int
    ws_rate_window_seconds: float
    index_settle_seconds: float
    index_lag_seconds: float
    visitor_away_seconds: float
    cleanup_budget_seconds: float
    revocation_cache_seconds: float
    ws_stats_shards: int
    login_free_per_account: int
    login_free_per_address: int
    login_free_per_device: int
    login_first_wait_seconds: float
    login_max_wait_seconds: float
    login_forget_seconds: float
    max_sockets_visitor: int
    max_sockets_agent: int
    signups_per_address: int
    conversations_per_address: int
    conversations_per_visitor: int
    address_window_seconds: float
    s3_endpoint: str | None = None
    ses_endpoint: str | None = None
    attachments_bucket: str = ""
    attachment_max_bytes: int = 10 * 1024 * 1024
    attachment_url_ttl_seconds: int = 600
    # One process serving many requests at once (the local stack's threads): its assigners take
    # turns per agent (``assignment.own_writes``). A Lambda container serves one at a time.
    assigners_share_process: bool = False
    mail_from: str | None = None
    identity_secret: str | None = None
    identity_secret_parameter: str | None = None
    cors_origins: tuple[str, ...] = ()
    password_scrypt_n: int = 2**14
    table_names: dict[str, str] = msgspec.field(default_factory=dict)

    def table_name(self, key: str) -> str:
        return self.table_names[key]


def _load() -> Config:
    stage = os.environ.get("KEFU_STAGE", "dev")
    prefix = os.environ.get("KEFU_TABLE_PREFIX", f"kefu-{stage}")
    names = {key: os.environ.get(f"KEFU_TABLE_{key.upper()}", f"{prefix}-{key.replace('_', '-')}")
             for key in TABLE_KEYS}
    return Config(
        app_name=os.environ.get("KEFU_APP_NAME", "kefu"),
        stage=stage,
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        table_prefix=prefix,
        dynamodb_endpoint=_opt("AWS_ENDPOINT_URL_DYNAMODB"),
        ws_management_endpoint=_opt("KEFU_WS_MANAGEMENT_ENDPOINT"),
        websocket_url=_opt("KEFU_WEBSOCKET_URL"),
        jwt_secret=_opt("KEFU_JWT_SECRET"),
        jwt_secret_parameter=_opt("KEFU_JWT_SECRET_PARAMETER"),
        jwt_previous_secret=_opt("KEFU_JWT_PREVIOUS_SECRET"),
        visitor_token_ttl_seconds=_int("KEFU_VISITOR_TOKEN_TTL", 30 * 24 * 3600),
        agent_token_ttl_seconds=_int("KEFU_AGENT_TOKEN_TTL", 12 * 3600),
        connection_ttl_seconds=_int("KEFU_CONNECTION_TTL", 3 * 3600),
        heartbeat_window_seconds=_float("KEFU_HEARTBEAT_WINDOW", 90.0),
        presence_grace_seconds=_float("KEFU_PRESENCE_GRACE", 120.0),
        assignment_ttl_seconds=_int("KEFU_ASSIGNMENT_TTL", 30 * 60),
        message_retention_days=_int("KEFU_MESSAGE_RETENTION_DAYS", 365),
        default_agent_capacity=_int("KEFU_DEFAULT_CAPACITY", 5),
        candidate_page_size=_int("KEFU_CANDIDATE_PAGE_SIZE", 5),
        ws_rate_limit=_int("KEFU_WS_RATE_LIMIT", 60),
        ws_rate_window_seconds=_float("KEFU_WS_RATE_WINDOW", 10.0),
        index_settle_seconds=_float("KEFU_INDEX_SETTLE", 5.0),
        index_lag_seconds=_float("KEFU_INDEX_LAG", 1.0),
        visitor_away_seconds=_float("KEFU_VISITOR_AWAY_TIMEOUT", 600.0),
        cleanup_budget_seconds=_float("KEFU_CLEANUP_BUDGET", 20.0),
        # API Gateway caches an authorizer's answer for its TTL (30 s, auth_guard) on top of this:
        # a revoked token stops working within the sum, at most 60 s.
        revocation_cache_seconds=min(_float("KEFU_REVOCATION_CACHE", 30.0), 30.0),
        ws_stats_shards=max(1, _int("KEFU_WS_STATS_SHARDS", 4)),
        # Logins: free failed attempts, then a wait that doubles (docs/design.md, "Limits").
        login_free_per_account=max(1, _int("KEFU_LOGIN_FREE_PER_ACCOUNT", 5)),
        login_free_per_address=max(1, _int("KEFU_LOGIN_FREE_PER_ADDRESS", 30)),
        login_free_per_device=max(1, _int("KEFU_LOGIN_FREE_PER_DEVICE", 10)),
        login_first_wait_seconds=_float("KEFU_LOGIN_FIRST_WAIT", 1.0),
        login_max_wait_seconds=_float("KEFU_LOGIN_MAX_WAIT", 300.0),
        login_forget_seconds=_float("KEFU_LOGIN_FORGET", 3600.0),
        max_sockets_visitor=_int("KEFU_MAX_SOCKETS_VISITOR", 10),
        max_sockets_agent=_int("KEFU_MAX_SOCKETS_AGENT", 20),
        # Budgets per hour (KEFU_ADDRESS_WINDOW), refilled steadily: an address is often shared.
        signups_per_address=_int("KEFU_SIGNUPS_PER_ADDRESS", 300),
        conversations_per_address=_int("KEFU_CONVERSATIONS_PER_ADDRESS", 300),
        conversations_per_visitor=_int("KEFU_CONVERSATIONS_PER_VISITOR", 20),
        address_window_seconds=_float("KEFU_ADDRESS_WINDOW", 3600.0),
        s3_endpoint=_opt("AWS_ENDPOINT_URL_S3"),
        ses_endpoint=_opt("AWS_ENDPOINT_URL_SESV2") or _opt("AWS_ENDPOINT_URL_SES"),
        attachments_bucket=os.environ.get("KEFU_ATTACHMENTS_BUCKET") or f"{prefix}-attachments",
        attachment_max_bytes=_int("KEFU_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024),
        attachment_url_ttl_seconds=_int("KEFU_ATTACHMENT_URL_TTL", 600),
        # No sender, no mail: replies and transcripts are then only logged as not sent.
        mail_from=_opt("KEFU_MAIL_FROM"),
        identity_secret=_opt("KEFU_IDENTITY_SECRET"),
        identity_secret_parameter=_opt("KEFU_IDENTITY_SECRET_PARAMETER"),
        cors_origins=tuple(o.strip().rstrip("/") for o in os.environ.get("KEFU_CORS_ORIGINS", "").split(",")
                           if o.strip()),
        # scrypt's cost for new password hashes (verifying reads it from the hash). Only the test
        # suite lowers it: it creates thousands of agents, and the cost is what makes hashing slow.
        password_scrypt_n=_int("KEFU_PASSWORD_SCRYPT_N", 2**14),
        assigners_share_process=os.environ.get("KEFU_ASSIGNERS_SHARE_PROCESS", "") in ("1", "true"),
        table_names=names,
    )


@functools.lru_cache(maxsize=1)
def get_config() -> Config:
    """The process-wide settings, read once."""
    return _load()


def reload_config() -> Config:
    """Re-read the environment (tests and the local stack change it between runs)."""
    get_config.cache_clear()
    return get_config()
