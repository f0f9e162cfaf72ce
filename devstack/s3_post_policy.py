"""S3 browser uploads (presigned POST) checked as S3 checks them; moto's server does not.

moto stores whatever a form POST carries: it verifies neither the signature nor the policy, so a
20 MB file would land under a policy allowing 10 MB, and a test of the limit would pass for the
wrong reason. This WSGI layer, in front of moto, applies what S3 applies to a POST policy before
anything is stored: the signature (SigV4 over the base64 policy), the expiration, every condition
(``bucket``, exact and ``starts-with`` matches of form fields, ``content-length-range`` on the
file) and no form field the policy does not cover. Refusals are S3's own: ``403 AccessDenied``
(``Invalid according to Policy: ...``), ``400 EntityTooLarge`` / ``EntityTooSmall``, with the
bucket's CORS headers so the browser can read them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

UNSIGNED_FIELDS = {"policy", "x-amz-signature", "file"}


class PolicyRefused(Exception):
    def __init__(self, status: str, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


class S3PostPolicy:
    """WSGI app: ``app`` (moto), with S3's checks on form uploads to a bucket."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not _is_form_upload(environ):
            return self._app(environ, start_response)
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(raw)
        bucket = environ.get("PATH_INFO", "").strip("/").split("/")[0]
        try:
            check(bucket, *_form(environ, raw))
        except PolicyRefused as refused:
            return _refuse(refused, bucket, environ, start_response)
        environ["wsgi.input"] = io.BytesIO(raw)
        return self._app(environ, start_response)


def _is_form_upload(environ: dict[str, Any]) -> bool:
    path = environ.get("PATH_INFO", "").strip("/")
    return (environ.get("REQUEST_METHOD") == "POST" and path != "" and "/" not in path
            and not environ.get("HTTP_AUTHORIZATION") and not environ.get("QUERY_STRING")
            and environ.get("CONTENT_TYPE", "").startswith("multipart/form-data"))


def _form(environ: dict[str, Any], raw: bytes) -> tuple[dict[str, str], int | None]:
    from werkzeug.formparser import parse_form_data

    copy = dict(environ)
    copy["wsgi.input"] = io.BytesIO(raw)
    _stream, form, files = parse_form_data(copy)
    fields = {name.lower(): value for name, value in form.items()}
    upload = files.get("file")
    size = len(upload.read()) if upload is not None else None
    return fields, size


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def check(bucket: str, fields: dict[str, str], size: int | None) -> None:
    """Refuse (``PolicyRefused``) what S3 would refuse of this form upload to ``bucket``."""
    policy_text = fields.get("policy")
    if not policy_text or size is None:
        raise PolicyRefused("403 Forbidden", "AccessDenied", "Access Denied")
    credential = fields.get("x-amz-credential", "").split("/")
    if len(credential) != 5 or fields.get("x-amz-algorithm") != "AWS4-HMAC-SHA256":
        raise PolicyRefused("400 Bad Request", "InvalidArgument", "POST requires a SigV4 credential and algorithm")
    _key_id, date, region, service, _ = credential
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY", "testing")
    expected = hmac.new(_signing_key(secret, date, region, service), policy_text.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields.get("x-amz-signature", "")):
        raise PolicyRefused("403 Forbidden", "SignatureDoesNotMatch",
                            "The request signature we calculated does not match the signature you provided.")
    policy = json.loads(base64.b64decode(policy_text))
    expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    if expiration < datetime.now(UTC):
        raise PolicyRefused("403 Forbidden", "AccessDenied", "Invalid according to Policy: Policy expired.")
    covered = set(UNSIGNED_FIELDS)
    for condition in policy.get("conditions", []):
        covered |= _apply(condition, bucket, fields, size)
    extra = sorted(name for name in fields if name not in covered and not name.startswith("x-ignore-"))
    if extra:
        raise PolicyRefused("403 Forbidden", "AccessDenied",
                            f"Invalid according to Policy: Extra input fields: {', '.join(extra)}")


def _apply(condition: Any, bucket: str, fields: dict[str, str], size: int) -> set[str]:
    """Check one condition; returns the form fields it covers."""
    if isinstance(condition, dict):
        (name, value), = condition.items()
        operator, name = "eq", name.lower()
    elif condition[0] == "content-length-range":
        low, high = int(condition[1]), int(condition[2])
        if size > high:
            raise PolicyRefused("400 Bad Request", "EntityTooLarge",
                                "Your proposed upload exceeds the maximum allowed size",
                                ProposedSize=size, MaxSizeAllowed=high)
        if size < low:
            raise PolicyRefused("400 Bad Request", "EntityTooSmall",
                                "Your proposed upload is smaller than the minimum allowed size",
                                ProposedSize=size, MinSizeAllowed=low)
        return set()
    else:
        operator, name, value = condition[0], condition[1].lstrip("$").lower(), condition[2]
    actual = bucket if name == "bucket" else fields.get(name, "")
    if (operator == "eq" and actual != value) or (operator == "starts-with" and not actual.startswith(value)):
        failed = f'["{operator}", "${name}", "{value}"]'
        raise PolicyRefused("403 Forbidden", "AccessDenied",
                            f"Invalid according to Policy: Policy Condition failed: {failed}")
    return {name}


def _refuse(refused: PolicyRefused, bucket: str, environ: dict[str, Any], start_response: Any) -> list[bytes]:
    details = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in refused.extra.items())
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{refused.code}</Code>'
            f"<Message>{escape(refused.message)}</Message>{details}</Error>").encode()
    headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
    headers += _cors(bucket, environ.get("HTTP_ORIGIN"))
    start_response(refused.status, headers)
    return [body]


def _cors(bucket: str, origin: str | None) -> list[tuple[str, str]]:
    """The headers the bucket's CORS rules give ``origin`` (as moto gives them on success)."""
    if not origin:
        return []
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends
    from moto.s3.utils import cors_matches_origin

    try:
        rules = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_bucket(bucket).cors
    except Exception:  # noqa: BLE001 - no such bucket: no CORS grant, as S3
        return []
    for rule in rules:
        if rule.allowed_origins and cors_matches_origin(origin, rule.allowed_origins):
            return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
    return []
