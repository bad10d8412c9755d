"""HTTP/1.1 with keep-alive over the standard library's threading server.

This layer only speaks HTTP: it reads a bounded body, hands a `Request` to
the app and writes (or holds back, or drops) the `Response`. Every error it
produces itself is JSON in the contract's shape too.
"""

from __future__ import annotations

import logging
import re
import socket
import sys
import time
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .app import App
from .errors import error_body
from .messages import Request, Response
from .objects import dumps

log = logging.getLogger("psp_sandbox")

MAX_BODY = 1024 * 1024
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_PROTOCOL_ERRORS = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    411: "invalid_request",
    413: "payload_too_large",
    414: "uri_too_long",
    431: "invalid_request",
    501: "not_implemented",
    505: "http_version_not_supported",
}


class BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # bursts of new connections in load tests

    def __init__(self, address: tuple[str, int], app: App) -> None:
        super().__init__(address, SandboxHandler)
        self.app = app

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Called inside socketserver's except block. A peer that hangs up is
        # routine; anything else is worth one line, never a crash.
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError)):
            log.warning("connection from %s ended with %r", client_address, error)

    @property
    def url(self) -> str:
        host, port = str(self.server_address[0]), int(self.server_address[1])
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "psp-sandbox/1"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 120  # an idle keep-alive connection is closed after this
    server: SandboxServer

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except BodyError as exc:
            self.send_error(exc.status, str(exc))
            return
        request = Request(self.command, self._path(), self.headers, body, self._base_url())
        response = self.server.app.handle(request)
        if response.hold:
            # The answer is ready and stored; only this connection waits, no lock is held.
            time.sleep(response.hold)
        if response.on_done is not None:
            response.on_done()  # before the bytes go out: a client may retry at once
        if response.drop:
            self.close_connection = True
            return
        self._write(response)

    def _path(self) -> str:
        target = self.path
        if "://" in target.split("?", 1)[0]:  # absolute-form, as proxies send it
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        return target.split("?", 1)[0]

    def _base_url(self) -> str:
        host = self.headers.get("Host", "")
        if not _HOST.fullmatch(host):
            host = self.server.url.split("://", 1)[1]
        scheme = "https" if self.headers.get("X-Forwarded-Proto") == "https" else "http"
        return f"{scheme}://{host}"

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        if not length_header.isdigit():
            raise BodyError(400, "bad Content-Length")
        length = int(length_header)
        if length > MAX_BODY:
            raise BodyError(413, f"the body is larger than {MAX_BODY} bytes")
        body = self.rfile.read(length)
        if len(body) < length:
            raise BodyError(400, "the body ended early")
        return body

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                chunk_size = int(line, 16)
            except ValueError:
                raise BodyError(400, "bad chunk size") from None
            size += chunk_size
            if size > MAX_BODY:
                raise BodyError(413, f"the body is larger than {MAX_BODY} bytes")
            if chunk_size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(chunk_size))
            self.rfile.readline(1024)

    def _write(self, response: Response, close: bool = False) -> None:
        phrase = _phrase(response.status)
        lines = [
            f"HTTP/1.1 {response.status} {phrase}",
            f"Date: {_http_date()}",
            f"Server: {self.server_version}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
        ]
        lines += [f"{name}: {value}" for name, value in response.headers]
        if close or self.close_connection:
            self.close_connection = True
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        payload = head if self.command == "HEAD" else head + response.body
        try:
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors raised by the HTTP layer itself (bad request line, too large)."""
        name = _PROTOCOL_ERRORS.get(code, "internal_error" if code >= 500 else "invalid_request")
        body = dumps(error_body(name, message or _phrase(code)))
        self._write(Response(code, body), close=True)

    def log_message(self, format: str, *args: Any) -> None:
        # One line per request would cost more than the request itself.
        pass


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    global _date_cache
    second = int(time.time())
    if _date_cache[0] != second:
        _date_cache = (second, formatdate(second, usegmt=True))
    return _date_cache[1]


class SandboxServerV6(SandboxServer):
    address_family = socket.AF_INET6


def make_server(host: str, port: int, app: App) -> SandboxServer:
    server_class = SandboxServerV6 if ":" in host else SandboxServer
    return server_class((host, port), app)
