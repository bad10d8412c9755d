"""A storefront's notification endpoint for end-to-end tests: a real process that receives the BPS's
events, verifies each signature with the `standardwebhooks` library (as a shop would) and keeps
what it got, so that a test can ask it afterwards.

    python -m paysite.tests.event_receiver --port 0 --secret whsec_… [--fail-first N] [--hold SECONDS]

prints "event_receiver listening on URL" first. Any POST path is an endpoint; every delivery is kept
(path, headers, body, verified or refused and why, the status answered) and served back by
`GET /received` as `{"data": [...]}`, oldest first. `GET /latest` is what a shop that orders by
`sequence` holds: per checkout, the verified event with the highest sequence (an older one arriving
late is dropped). Answers: 401 for a signature that does not verify; 500 for the first N deliveries
of each event id with `--fail-first N`; otherwise 200, after SECONDS for the very first delivery with
`--hold SECONDS` (a delivery in flight for as long as a test needs it).

The standard library and `standardwebhooks` only: no Django, nothing shared with the BPS.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class Deliveries:
    """What arrived, behind one lock (the server answers on many threads)."""

    def __init__(self, *, secret: str, fail_first: int, hold: float):
        self.webhook = Webhook(secret)
        self.fail_first, self.hold = fail_first, hold
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []
        self.latest: dict[str, dict[str, Any]] = {}  # checkout id → the event of highest sequence

    def arrive(self, path: str, headers: dict[str, str], body: bytes) -> tuple[dict[str, Any], int, float]:
        """Keep one delivery; returns its record, the status to answer and how long to wait first."""
        record: dict[str, Any] = {
            "path": path, "headers": headers, "body": body.decode("utf-8", "replace"), "verified": False,
            "error": "", "received_at": time.time(), "answered": None,
        }
        try:
            event = self.webhook.verify(body, headers)
            record["verified"] = True
        except (WebhookVerificationError, ValueError) as exc:
            event, record["error"] = None, f"{type(exc).__name__}: {exc}"
        with self.lock:
            first_delivery = not self.received
            self.received.append(record)
            if event is None:
                return record, 401, 0.0
            self._keep_latest(event)
            tries = sum(1 for kept in self.received if kept["headers"].get("webhook-id") == headers.get("webhook-id"))
        if tries <= self.fail_first:
            return record, 500, 0.0
        return record, 200, self.hold if first_delivery else 0.0

    def _keep_latest(self, event: dict[str, Any]) -> None:
        checkout_id = (event.get("data") or {}).get("id")
        if not checkout_id:
            return  # not about a checkout (a test ping)
        kept = self.latest.get(checkout_id)
        if kept is None or event["sequence"] > kept["sequence"]:
            self.latest[checkout_id] = event

    def answered(self, record: dict[str, Any], status: int) -> None:
        with self.lock:
            record["answered"] = status

    def snapshot(self, what: str) -> Any:
        with self.lock:
            return json.loads(json.dumps(self.received if what == "received" else self.latest))


def handler_for(deliveries: Deliveries) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            record, status, wait = deliveries.arrive(self.path, headers, body)
            time.sleep(wait)
            try:
                self._answer(status, {"received": status == 200})
            except OSError:
                return  # the sender went away while we held the answer (a killed worker)
            deliveries.answered(record, status)

        def do_GET(self) -> None:
            what = self.path.strip("/")
            if what not in ("received", "latest"):
                self._answer(404, {"error": "GET /received or /latest"})
                return
            self._answer(200, {"data": deliveries.snapshot(what)})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m paysite.tests.event_receiver", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free one, shown in the start line")
    parser.add_argument("--secret", required=True, help="the storefront's whsec_ signing secret")
    parser.add_argument("--fail-first", type=int, default=0, help="answer 500 to the first N deliveries of each event")
    parser.add_argument("--hold", type=float, default=0.0, help="answer the very first delivery after SECONDS")
    options = parser.parse_args()
    deliveries = Deliveries(secret=options.secret, fail_first=options.fail_first, hold=options.hold)
    server = ThreadingHTTPServer((options.host, options.port), handler_for(deliveries))
    server.daemon_threads = True
    print(f"event_receiver listening on http://{options.host}:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
