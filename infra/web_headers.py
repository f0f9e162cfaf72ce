"""The security headers of the web pages: one definition for the local stack (``devstack/static``)
and for CloudFront (a response headers policy, docs/hosting.md).

    python -m infra.web_headers --api https://api.example --ws wss://ws.example [--files https://bucket...]

prints the two CloudFront ``ResponseHeadersPolicyConfig`` documents (console, and everything else)
for ``aws cloudfront create-response-headers-policy``.

Every page: scripts and styles from its own origin only (no inline script or style, no eval),
``connect-src`` limited to its origin, the REST API and the WebSocket (and the attachments bucket,
when there is one), no plugins, no ``<base>``, and nobody may frame it (``frame-ancestors 'none'``:
the console holds an agent's session, and a framed console invites clickjacking).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from urllib.parse import urlsplit

Json = dict

# No page of kefu uses any of these browser features.
PERMISSIONS_POLICY = ("accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), "
                      "magnetometer=(), microphone=(), payment=(), usb=()")
REFERRER_POLICY = "no-referrer"


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` (what CSP source lists compare)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy(connect: Iterable[str] = ()) -> str:
    """The CSP of kefu's pages; ``connect`` are the URLs (or origins) scripts may talk to besides
    the page's own origin: the REST API, the WebSocket, the attachments bucket. Images may come
    from any HTTPS origin: the avatars agents and admins set are on hosts of their choosing (an
    image cannot run code; scripts stay ``'self'``)."""
    others = sorted({origin(url) for url in connect} - {""})
    sources = " ".join(["'self'", *others])
    return "; ".join([
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src 'self' data: blob: https: {' '.join(others)}".rstrip(),  # avatars live anywhere
        "font-src 'self'",
        f"connect-src {sources}",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ])


def security_headers(connect: Iterable[str] = ()) -> dict[str, str]:
    """Every header a page is served with, as the local stack sends them."""
    return {
        "Content-Security-Policy": content_security_policy(connect),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": REFERRER_POLICY,
        "Permissions-Policy": PERMISSIONS_POLICY,
        "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    }


def response_headers_policy(name: str, connect: Iterable[str]) -> Json:
    """A CloudFront ``ResponseHeadersPolicyConfig`` sending ``security_headers``."""
    headers = security_headers(connect)
    return {
        "Name": name,
        "Comment": "kefu pages: infra/web_headers.py",
        "SecurityHeadersConfig": {
            "ContentSecurityPolicy": {"ContentSecurityPolicy": headers["Content-Security-Policy"],
                                      "Override": True},
            "ContentTypeOptions": {"Override": True},
            "ReferrerPolicy": {"ReferrerPolicy": headers["Referrer-Policy"], "Override": True},
            "FrameOptions": {"FrameOption": "DENY", "Override": True},
            "StrictTransportSecurity": {"AccessControlMaxAgeSec": 63072000, "IncludeSubdomains": True,
                                        "Override": True},
        },
        "CustomHeadersConfig": {"Quantity": 1, "Items": [
            {"Header": "Permissions-Policy", "Value": headers["Permissions-Policy"], "Override": True}]},
    }


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.web_headers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", required=True, help="the REST API URL the pages call")
    parser.add_argument("--ws", required=True, help="the WebSocket URL (wss://...)")
    parser.add_argument("--files", action="append", default=[],
                        help="another origin the pages fetch from (the attachments bucket); repeatable")
    parser.add_argument("--name", default="kefu-pages")
    args = parser.parse_args(list(argv) if argv is not None else None)
    policy = response_headers_policy(args.name, [args.api, args.ws, *args.files])
    sys.stdout.write(json.dumps(policy, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
