"""The page headers: one definition (infra/web_headers.py) for the local stack, the CloudFront
policy docs/hosting.md tells you to create, and the CSP that page quotes."""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stdout
from pathlib import Path

from infra import web_headers

HOSTING = Path(__file__).resolve().parents[2] / "docs" / "hosting.md"
PLACEHOLDERS = {"https://API": "<api>", "https://FILES": "<files>", "wss://WS": "<ws>"}


def quoted_csp() -> str:
    text = HOSTING.read_text()
    block = re.search(r"```\s*\n\s*(default-src[^`]*)```", text)
    assert block, "docs/hosting.md quotes no Content-Security-Policy"
    return " ".join(block.group(1).split())


def test_hosting_md_quotes_the_policy_the_code_sends():
    generated = web_headers.content_security_policy(PLACEHOLDERS)
    for url, placeholder in PLACEHOLDERS.items():
        generated = generated.replace(url, placeholder)

    assert quoted_csp() == generated


def test_no_page_may_be_framed_and_nothing_inline_runs():
    policy = dict(part.split(" ", 1) for part in web_headers.content_security_policy(["wss://ws.example"]).split("; "))

    assert policy["frame-ancestors"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self' wss://ws.example"
    assert "https:" in policy["img-src"].split()  # agents' avatars are on hosts of their choosing
    assert "unsafe" not in web_headers.content_security_policy(["wss://ws.example"])
    assert "frame-ancestors *" not in HOSTING.read_text()


def test_the_cloudfront_policy_sends_the_same_headers_as_the_local_stack():
    headers = web_headers.security_headers(["https://api.example/api", "wss://ws.example/api"])
    policy = web_headers.response_headers_policy("kefu", ["https://api.example/api", "wss://ws.example/api"])
    security = policy["SecurityHeadersConfig"]

    assert security["ContentSecurityPolicy"]["ContentSecurityPolicy"] == headers["Content-Security-Policy"]
    assert security["ReferrerPolicy"]["ReferrerPolicy"] == headers["Referrer-Policy"]
    assert security["FrameOptions"]["FrameOption"] == headers["X-Frame-Options"]
    assert "ContentTypeOptions" in security
    assert policy["CustomHeadersConfig"]["Items"] == [
        {"Header": "Permissions-Policy", "Value": headers["Permissions-Policy"], "Override": True}]


def test_the_command_prints_the_policy_for_cloudfront():
    out = io.StringIO()
    with redirect_stdout(out):
        web_headers.main(["--api", "https://a.example/api", "--ws", "wss://w.example/api"])

    printed = json.loads(out.getvalue())
    assert "connect-src 'self' https://a.example wss://w.example" in \
        printed["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"]
