"""Rotating the JWT signing secret logs nobody out: tokens name their secret (``kid``) and the
previous secret is accepted while it is configured, and only for the tokens it signed."""

from __future__ import annotations

import time
import uuid

import boto3
import jwt
import pytest

from chalicelib.config import reload_config
from chalicelib.errors import Unauthorized
from chalicelib.services import tokens
from chalicelib.services.tokens import Principal

OLD, NEW = "the-old-secret-" + "o" * 32, "the-new-secret-" + "n" * 32
AGENT = Principal("a_1", "agent", "agent", "Ann")


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch):
    """``secrets(current, previous=None)``: the signing secrets from now on."""

    def use(current: str, previous: str | None = None) -> None:
        monkeypatch.setenv("KEFU_JWT_SECRET", current)
        if previous:
            monkeypatch.setenv("KEFU_JWT_PREVIOUS_SECRET", previous)
        else:
            monkeypatch.delenv("KEFU_JWT_PREVIOUS_SECRET", raising=False)
        reload_config()

    yield use
    monkeypatch.undo()
    reload_config()


def _legacy_token(secret: str) -> str:
    """A token as issued before key ids: no ``kid`` in its header."""
    now = int(time.time())
    return jwt.encode({"sub": "a_1", "typ": "agent", "role": "agent", "iat": now, "exp": now + 600},
                      secret, algorithm="HS256")


def test_a_token_names_the_secret_it_was_signed_with(secrets):
    secrets(NEW, OLD)
    token, _ = tokens.issue(AGENT)

    assert jwt.get_unverified_header(token)["kid"] == tokens.key_id(NEW) != tokens.key_id(OLD)


def test_tokens_issued_before_a_rotation_stay_valid_while_the_previous_secret_is_kept(secrets):
    secrets(OLD)
    before, _ = tokens.issue(AGENT)
    legacy = _legacy_token(OLD)

    secrets(NEW, OLD)
    after, _ = tokens.issue(AGENT)

    assert tokens.verify(before) == tokens.verify(after) == AGENT
    assert tokens.verify(legacy).user_id == "a_1"


def test_once_the_previous_secret_is_dropped_its_tokens_are_refused(secrets):
    secrets(OLD)
    before, _ = tokens.issue(AGENT)
    legacy = _legacy_token(OLD)
    secrets(NEW)

    for token in (before, legacy):
        with pytest.raises(Unauthorized):
            tokens.verify(token)


def test_a_token_naming_one_secret_but_signed_with_another_is_refused(secrets):
    secrets(NEW, OLD)
    now = int(time.time())
    forged = jwt.encode({"sub": "a_1", "typ": "agent", "role": "admin", "iat": now, "exp": now + 600},
                        "a guessed secret of some length " * 2, algorithm="HS256", headers={"kid": tokens.key_id(NEW)})
    unknown = jwt.encode({"sub": "a_1", "typ": "agent", "role": "admin", "iat": now, "exp": now + 600},
                         NEW, algorithm="HS256", headers={"kid": "not-a-key-we-have"})

    for token in (forged, unknown):
        with pytest.raises(Unauthorized):
            tokens.verify(token)


def test_an_expired_token_signed_with_the_previous_secret_is_refused(secrets):
    now = int(time.time())
    expired = jwt.encode({"sub": "a_1", "typ": "agent", "role": "agent", "iat": now - 600, "exp": now - 1},
                         OLD, algorithm="HS256", headers={"kid": tokens.key_id(OLD)})
    secrets(NEW, OLD)

    with pytest.raises(Unauthorized, match="expired"):
        tokens.verify(expired)


def test_the_ssm_parameter_may_hold_the_current_and_the_previous_secret(monkeypatch, moto_endpoint):
    name = f"/kefu/test/jwt-secret-{uuid.uuid4().hex[:8]}"
    ssm = boto3.client("ssm", endpoint_url=moto_endpoint, region_name="us-east-1")
    ssm.put_parameter(Name=name, Type="SecureString", Value=OLD)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", moto_endpoint)
    monkeypatch.delenv("KEFU_JWT_SECRET")
    monkeypatch.setenv("KEFU_JWT_SECRET_PARAMETER", name)
    reload_config()
    try:
        before, _ = tokens.issue(AGENT)
        rotated = f"{name}-rotated"  # a new name: Powertools caches a parameter's value for 5 minutes
        ssm.put_parameter(Name=rotated, Type="SecureString", Value=f'{{"current": "{NEW}", "previous": "{OLD}"}}')
        monkeypatch.setenv("KEFU_JWT_SECRET_PARAMETER", rotated)
        reload_config()
        after, _ = tokens.issue(AGENT)

        assert tokens.verify(before) == tokens.verify(after) == AGENT
        assert jwt.get_unverified_header(after)["kid"] == tokens.key_id(NEW)
    finally:
        monkeypatch.undo()
        reload_config()
