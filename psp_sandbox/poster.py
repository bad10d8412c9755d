"""POSTing one webhook over a kept-alive connection, never following redirects."""

from __future__ import annotations

import http.client
from collections import OrderedDict
from urllib.parse import urlsplit

TIMEOUT = 10.0  # seconds the receiver has to answer
MAX_CONNECTIONS = 32
_MAX_ANSWER = 64 * 1024

_Connection = http.client.HTTPConnection


class Poster:
    """One per delivery thread: http.client connections are not thread-safe."""

    def __init__(self) -> None:
        self._connections: OrderedDict[tuple[str, str], _Connection] = OrderedDict()

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int | None:
        """The answer's status code, or None when there was no answer
        (refused, reset, timed out)."""
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        origin = (parts.scheme, parts.netloc)
        for attempt in range(2):
            conn = self._connections.pop(origin, None)
            reused = conn is not None
            if conn is None:
                conn = self._open(parts.scheme, parts.hostname or "", parts.port)
            try:
                conn.request("POST", target, body, headers)
                answer = conn.getresponse()
                answer.read(_MAX_ANSWER)
            except (
                http.client.RemoteDisconnected,
                BrokenPipeError,
                ConnectionResetError,
            ):
                conn.close()
                if reused and attempt == 0:
                    continue  # the receiver closed an idle kept-alive connection
                return None
            except (OSError, http.client.HTTPException):
                conn.close()
                return None
            if answer.isclosed() and not answer.will_close:
                self._keep(origin, conn)
            else:
                conn.close()
            return answer.status
        return None

    def _open(self, scheme: str, host: str, port: int | None) -> _Connection:
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=TIMEOUT)
        return http.client.HTTPConnection(host, port, timeout=TIMEOUT)

    def _keep(self, origin: tuple[str, str], conn: _Connection) -> None:
        self._connections[origin] = conn
        while len(self._connections) > MAX_CONNECTIONS:
            _, oldest = self._connections.popitem(last=False)
            oldest.close()

    def close(self) -> None:
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()
