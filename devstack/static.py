"""The web pages on the REST port: the demo host page with the widget at ``/``, the widget at
``/widget.js`` (which loads its parts from ``/widget/``), the agent console under ``/console/``.
In AWS they are static files on S3 behind CloudFront (docs/hosting.md); locally the REST server
hands them out before Chalice sees the path.

HTML pages may name ``__KEFU_API_URL__`` and ``__KEFU_WS_URL__``: the stack's own URLs are put in
when the page is served, because its ports are only known once it listens.
"""

from __future__ import annotations

import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path

from devstack.environment import PROJECT_DIR
from infra import web_headers

WEB_DIR = PROJECT_DIR / "web"
CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str


def is_static_path(path: str) -> bool:
    """Paths the pages own; everything else (``/api/...``) goes to the app."""
    path = path.split("?", 1)[0]
    return (path in ("/", "/index.html", "/widget.js", "/demo.css", "/console")
            or path.startswith(("/console/", "/widget/")))


def resolve(path: str, urls: dict[str, str], root: Path = WEB_DIR) -> StaticFile | str | None:
    """The file for ``path``, a redirect target (str) for ``/console``, or None when missing."""
    path = path.split("?", 1)[0]
    if path == "/console":
        return "/console/"
    relative = path.lstrip("/")
    if relative == "" or relative.endswith("/"):
        relative += "index.html"
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root.resolve()) or not candidate.is_file():
        return None
    body = candidate.read_bytes()
    if candidate.suffix == ".html":
        for name, value in urls.items():
            body = body.replace(f"__{name}__".encode(), value.encode())
    content_type = CONTENT_TYPES.get(candidate.suffix) or mimetypes.guess_type(candidate.name)[0]
    return StaticFile(body, content_type or "application/octet-stream")


def page_headers(urls: dict[str, str]) -> dict[str, str]:
    """The security headers CloudFront sends in AWS (``infra.web_headers``), for this stack's
    URLs: its REST API and WebSocket, and the local S3 the attachments go to when there is one."""
    connect = [urls.get("KEFU_API_URL", ""), urls.get("KEFU_WS_URL", ""), os.environ.get("AWS_ENDPOINT_URL_S3", "")]
    return web_headers.security_headers(url for url in connect if url)
