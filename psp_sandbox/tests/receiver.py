"""A webhook receiver for the tests: records every delivery, answers as told."""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status = self.server.receiver.record(Delivery(self.path, dict(self.headers.items()), body, time.monotonic()))
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", f"{self.path}/moved")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver


class Receiver:
    def __init__(self, port: int = 0) -> None:
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.receiver = self
        self._changed = threading.Condition()
        self._deliveries: dict[str, list[Delivery]] = defaultdict(list)
        self._planned: dict[str, list[int]] = defaultdict(list)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self) -> str:
        """A fresh endpoint, so every test reads only its own deliveries."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/{uuid.uuid4().hex}"

    def answer(self, url: str, *statuses: int) -> None:
        """Answer the next deliveries to `url` with `statuses`, then 204 again."""
        with self._changed:
            self._planned[urlsplit(url).path] = list(statuses)

    def record(self, delivery: Delivery) -> int:
        with self._changed:
            self._deliveries[delivery.path].append(delivery)
            self._changed.notify_all()
            planned = self._planned[delivery.path]
            return planned.pop(0) if planned else 204

    def deliveries(self, url: str) -> list[Delivery]:
        with self._changed:
            return list(self._deliveries[urlsplit(url).path])

    def wait_for(self, url: str, count: int, timeout: float = 10.0) -> list[Delivery]:
        """At least `count` deliveries to `url`, waiting up to `timeout` for them."""
        path = urlsplit(url).path
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._deliveries[path]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    got = len(self._deliveries[path])
                    raise AssertionError(f"{got} deliveries to {path}, wanted {count}")
                self._changed.wait(left)
            return list(self._deliveries[path])


def verified_events(deliveries: list[Delivery], secret: str) -> list[dict[str, Any]]:
    """The events, each checked as a Standard Webhooks receiver would check it."""
    from standardwebhooks.webhooks import Webhook

    webhook = Webhook(secret)
    events = []
    for delivery in deliveries:
        event = webhook.verify(delivery.body, delivery.headers)
        assert delivery.headers["webhook-id"] == event["id"]
        events.append(event)
    return events
