"""The embedded backend's keep-alive WSGI server (devstack/wsgi_server.py)."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config

from devstack.wsgi_server import KeepAliveWSGIServer
from tests.conftest import MOTO_ENDPOINT


def _app(environ, start_response):
    body = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "12345")])
    return [body]


@pytest.fixture
def server() -> Iterator[KeepAliveWSGIServer]:
    served = KeepAliveWSGIServer("127.0.0.1", 0, _app)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served
    served.shutdown()
    served.server_close()


def test_one_connection_serves_request_after_request_with_their_own_lengths(server):
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=5)
    answers = []
    for path in ("/one", "/two"):
        connection.request("GET", path)
        response = connection.getresponse()
        answers.append((response.getheader("Content-Length"), response.read()))
        assert response.getheader("Connection") != "close"
    first_socket = connection.sock

    connection.request("GET", "/three")
    connection.getresponse().read()

    assert connection.sock is first_socket  # never reconnected
    assert answers == [("8", b"GET /one"), ("8", b"GET /two")]


def test_a_head_answer_keeps_the_length_a_get_would_have(server):
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=5)
    connection.request("HEAD", "/file")
    response = connection.getresponse()

    assert response.getheader("Content-Length") == "12345"
    assert response.read() == b""
    connection.request("GET", "/after")  # the connection is still in step
    assert connection.getresponse().read() == b"GET /after"


def test_s3_head_object_on_the_embedded_backend_reports_the_objects_size():
    s3 = boto3.client("s3", endpoint_url=MOTO_ENDPOINT, region_name="us-east-1",
                      config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket="kefu-test-wsgi-head")
    s3.put_object(Bucket="kefu-test-wsgi-head", Key="five.txt", Body=b"12345")

    assert s3.head_object(Bucket="kefu-test-wsgi-head", Key="five.txt")["ContentLength"] == 5
