"""Every mail the local SES accepts, in the stack's log and in ``<data dir>/outbox.jsonl``.

moto keeps sent mail in memory only, where nobody developing the widget can read it. This WSGI
layer in front of moto records each ``SendEmail`` (SES v2, and v1's query form) that moto answered
with success: one JSON object a line, ``{at, from, to, subject, text}``.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

log = logging.getLogger("kefu.outbox")

V2_SEND = "/v2/email/outbound-emails"


class MailOutbox:
    """WSGI app: ``app`` (moto), recording the mail it sends into ``path`` (and the log)."""

    def __init__(self, app: Any, path: Path | None) -> None:
        self._app = app
        self.path = path
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("REQUEST_METHOD") != "POST":
            return self._app(environ, start_response)
        path = environ.get("PATH_INFO", "")
        is_v2 = path.rstrip("/") == V2_SEND
        if not is_v2 and "/ses/" not in environ.get("HTTP_AUTHORIZATION", ""):
            return self._app(environ, start_response)
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(raw)
        mail = _v2_mail(raw) if is_v2 else _v1_mail(raw)
        if mail is None:
            return self._app(environ, start_response)
        status: list[str] = []

        def capture(code: str, headers: Any, exc_info: Any = None) -> Any:
            status.append(code)
            return start_response(code, headers, exc_info) if exc_info else start_response(code, headers)

        answer = b"".join(self._app(environ, capture))
        if status and status[0].startswith("2"):
            self.record(mail)
        return [answer]

    def record(self, mail: dict[str, Any]) -> None:
        entry = {"at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"), **mail}
        log.info("mail from %s to %s: %s\n%s", mail["from"], ", ".join(mail["to"]), mail["subject"], mail["text"])
        if self.path is None:
            return
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(entry, ensure_ascii=False) + "\n")


def _v2_mail(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return None
    simple = (body.get("Content") or {}).get("Simple") or {}
    return {"from": body.get("FromEmailAddress"), "to": (body.get("Destination") or {}).get("ToAddresses") or [],
            "subject": (simple.get("Subject") or {}).get("Data"),
            "text": ((simple.get("Body") or {}).get("Text") or {}).get("Data")}


def _v1_mail(raw: bytes) -> dict[str, Any] | None:
    params = {k: v[0] for k, v in parse_qs(raw.decode(errors="replace")).items()}
    if params.get("Action") != "SendEmail":
        return None
    to = [v for k, v in sorted(params.items()) if k.startswith("Destination.ToAddresses.member.")]
    return {"from": params.get("Source"), "to": to, "subject": params.get("Message.Subject.Data"),
            "text": params.get("Message.Body.Text.Data")}
