"""devstack/fast_headers.py parses every header block into what the standard library would."""

from __future__ import annotations

import email.parser
import http.client
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devstack.fast_headers import parse_headers

BLOCKS = [
    b"Host: 127.0.0.1:8000\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: 12\r\n\r\n",
    b"X-Amz-Target: DynamoDB_20120810.GetItem\r\nx-amz-target: again\r\n\r\n",  # repeated, any case
    b"Empty:\r\nSpaced:   value with trailing spaces   \r\nTabbed:\t\tvalue\r\n\r\n",
    b"Bare-LF: yes\nOther: too\n\n",
    b"Folded: first\r\n second part\r\nNext: x\r\n\r\n",  # obsolete line folding
    b" Leading: continuation first\r\nName: v\r\n\r\n",
    b"From somebody\r\nName: v\r\n\r\n",
    b"No colon here\r\nName: v\r\n\r\n",
    b": no name\r\nName: v\r\n\r\n",
    b"Weird\rCR: v\r\n\r\n",
    b"Latin: caf\xe9\r\n\r\n",
    b"Name: v\r\n",  # the connection closed before the blank line
    b"\r\n",
]


def _standard(block: bytes) -> http.client.HTTPMessage:
    lines = http.client._read_headers(io.BytesIO(block))
    return email.parser.Parser(_class=http.client.HTTPMessage).parsestr(b"".join(lines).decode("iso-8859-1"))


def _same(block: bytes) -> None:
    fast, standard = parse_headers(io.BytesIO(block + b"the body")), _standard(block + b"the body")
    assert list(fast.items()) == list(standard.items())
    assert isinstance(fast, http.client.HTTPMessage)
    for name in {k.lower() for k in standard.keys()}:
        assert fast.get_all(name) == standard.get_all(name)


@pytest.mark.parametrize("block", BLOCKS)
def test_each_header_block_parses_as_the_standard_library_parses_it(block):
    _same(block)


def test_the_body_after_the_headers_is_left_to_read():
    stream = io.BytesIO(b"Content-Length: 4\r\n\r\nbody")
    parse_headers(stream)
    assert stream.read() == b"body"


@given(st.lists(st.tuples(st.binary(min_size=0, max_size=12), st.binary(min_size=0, max_size=20)), max_size=6))
def test_any_block_of_lines_parses_as_the_standard_library_parses_it(pairs):
    block = b"".join(name + b":" + value + b"\r\n" for name, value in pairs if b"\n" not in name + value) + b"\r\n"
    _same(block)
