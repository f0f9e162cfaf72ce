"""HTTP header blocks parsed without the email package, in the local stack's processes.

``http.client.parse_headers`` (used by ``http.server`` for every request and by urllib3 for every
response) hands each header block to the email package's feed parser: about a tenth of the
embedded DynamoDB's CPU and of a test process's, on the local stack where the app, its DynamoDB
and the tests share two cores. A well-formed block (``Name: value`` lines) is split here into
the same ``HTTPMessage``; anything else (a folded line, a line that is no header, stray
carriage returns) goes to the email package as before, so every answer stays the standard one.

``install()`` replaces ``http.client.parse_headers`` once per process; only devstack and the test
suite call it, never the Lambda code.
"""

from __future__ import annotations

import http.client
import re
from typing import Any

# A header line as the feed parser accepts it: a name of printable characters but ':', then ':'.
_HEADER = re.compile(r"([\041-\071\073-\176]+):([^\r\n]*)\r?\n\Z")

_standard = http.client.parse_headers


def parse_headers(fp: Any, _class: type = http.client.HTTPMessage) -> Any:
    lines = http.client._read_headers(fp)  # the standard reader: its line and count limits
    message = _class()
    for raw in lines:
        if raw in (b"\r\n", b"\n", b""):
            break
        line = raw.decode("iso-8859-1")
        match = _HEADER.match(line)
        if match is None or line.startswith("From "):
            return _parse_as_standard(lines, _class)
        message.set_raw(match.group(1), match.group(2).lstrip(" \t"))
    return message


def _parse_as_standard(lines: list[bytes], _class: type) -> Any:
    import email.parser

    return email.parser.Parser(_class=_class).parsestr(b"".join(lines).decode("iso-8859-1"))


def install() -> None:
    if http.client.parse_headers is not parse_headers:
        http.client.parse_headers = parse_headers
