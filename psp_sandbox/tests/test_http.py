"""HTTP robustness: whatever a client sends, the answer is JSON and the server lives."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from .client import Psp
from .sandbox_process import API_KEY

pytestmark = pytest.mark.sandbox


def _raw(url: str, data: bytes, *, half_close: bool = False) -> bytes:
    """Send raw bytes, return everything the server answers before closing."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=10) as conn:
        conn.sendall(data)
        if half_close:
            conn.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _status_and_json(answer: bytes) -> tuple[int, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"Content-Type: application/json" in head
    return int(head.split()[1]), body


@pytest.mark.parametrize(
    "data",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /v1/sessions/x HTTP/9.9\r\n\r\n",
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"X-Long: " + b"h" * 70000 + b"\r\n\r\n",
        b"BREW /v1/sessions HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
    ],
)
def test_malformed_http_gets_a_json_error(psp: Psp, data: bytes) -> None:
    # given bytes that are not a request the API can serve
    # when they are sent, then the answer is a JSON error, and the server still answers after it
    status, body = _status_and_json(_raw(psp.url, data, half_close=True))
    assert 400 <= status < 600
    assert b'"error"' in body
    assert psp.get("/sandbox/health").status_code == 200


def test_a_body_over_one_mib_is_413(psp: Psp) -> None:
    # given a request announcing a body over 1 MiB, then it is refused before it is read
    head = (
        f"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n"
        f"Content-Length: {1024 * 1024 + 1}\r\n\r\n"
    ).encode()
    status, body = _status_and_json(_raw(psp.url, head))
    assert status == 413
    assert b"payload_too_large" in body


def test_a_chunked_body_over_one_mib_is_413(psp: Psp) -> None:
    head = (
        f"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n200000\r\n"
    ).encode()
    status, _ = _status_and_json(_raw(psp.url, head))
    assert status == 413


def test_a_chunked_body_is_read(psp: Psp) -> None:
    body = f'{{"checkout_id": "{uuid.uuid4().hex}", "amount": "1.00", "currency": "EUR"}}'.encode()

    def chunks() -> Iterator[bytes]:
        yield body[:10]
        yield body[10:]

    answer = psp.http.post(psp.url + "/v1/sessions", data=chunks(), timeout=10)
    assert answer.status_code == 201


def test_a_connection_serves_many_requests(psp: Psp) -> None:
    # given four pipelined requests on one connection, the last asking to close
    # then all four are answered on it (HTTP/1.1 keep-alive)
    request = f"GET /v1/sessions/tok_x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n\r\n".encode()
    closing = request.replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n")
    answer = _raw(psp.url, request * 3 + closing)
    assert answer.count(b"HTTP/1.1 404 Not Found") == 4


def test_head_is_405_without_a_body(psp: Psp) -> None:
    answer = psp.http.head(psp.url + "/v1/sessions/tok_x", timeout=10)
    assert answer.status_code == 405
    assert answer.content == b""


def test_a_client_that_hangs_up_mid_body_does_no_harm(psp: Psp) -> None:
    head = b'POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"a"'
    _raw(psp.url, head, half_close=True)
    assert psp.get("/sandbox/health").status_code == 200
