"""Load benchmark: `python -m psp_sandbox.bench [--sessions N] [--clients P] ...`.

Starts the sandbox as a real process on a free port with temporary storage
and a webhook sink in another process (answers 204), registers N sessions,
then has P client processes, each with C kept-alive connections, send one
`POST /v1/payments` (pm_card_visa, own Idempotency-Key) per session. Prints
payments per second, p50/p99 latency, errors, and how long the webhooks
took to drain.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

API_KEY = "sk_test_bench"


# the webhook sink ------------------------------------------------------------


class _SinkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with _SinkHandler.lock:
            _SinkHandler.received += 1
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        body = str(_SinkHandler.received).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _run_sink(pipe: Connection) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SinkHandler)
    server.daemon_threads = True
    pipe.send(server.server_address[1])
    server.serve_forever()


def sink_count(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/")
    return int(conn.getresponse().read())


# the sandbox -----------------------------------------------------------------


def start_sandbox(storage: str) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "psp_sandbox", "--port", "0", "--api-key", API_KEY]
    command += ["--storage", storage]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    url = line.split(" listening on ", 1)[1].split()[0]
    return process, url


# clients ---------------------------------------------------------------------


def _post(conn: http.client.HTTPConnection, path: str, body: object) -> tuple[int, bytes]:
    headers = {
        "Authorization": f"Bearer {API_KEY}",
        "Content-Type": "application/json",
        "Idempotency-Key": uuid.uuid4().hex,
    }
    conn.request("POST", path, json.dumps(body), headers)
    answer = conn.getresponse()
    return answer.status, answer.read()


def _connect(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)


def _create_sessions(url: str, count: int) -> list[str]:
    conn = _connect(url)
    tokens = []
    for _ in range(count):
        body = {"checkout_id": uuid.uuid4().hex, "amount": "12.50", "currency": "EUR"}
        status, answer = _post(conn, "/v1/sessions", body)
        assert status == 201, answer
        tokens.append(json.loads(answer)["token"])
    return tokens


def _pay_thread(url: str, tokens: list[str], sink: str, out: list[Any]) -> None:
    conn = _connect(url)
    latencies, errors = [], 0
    for token in tokens:
        body = {
            "token": token,
            "amount": "12.50",
            "currency": "EUR",
            "payment_method": "pm_card_visa",
            "redirect_url": "http://127.0.0.1/return",
            "webhook_url": sink,
        }
        started = time.perf_counter()
        try:
            status, _ = _post(conn, "/v1/payments", body)
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
            conn = _connect(url)
        latencies.append(time.perf_counter() - started)
        errors += status != 201
    out.append((latencies, errors, time.time()))


def _pay_worker(
    args: tuple[str, list[str], str, int, float],
) -> tuple[list[float], int, float, float]:
    url, tokens, sink, connections, start_at = args
    time.sleep(max(0.0, start_at - time.time()))
    cpu_before = time.process_time()
    out: list[Any] = []
    threads = [
        threading.Thread(target=_pay_thread, args=(url, tokens[n::connections], sink, out)) for n in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies = [latency for part in out for latency in part[0]]
    errors = sum(part[1] for part in out)
    return latencies, errors, max(part[2] for part in out), time.process_time() - cpu_before


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to show who is the limit."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _split(items: list[str], parts: int) -> list[list[str]]:
    return [items[n::parts] for n in range(parts)]


def run(sessions: int, clients: int, connections: int) -> None:
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    sink_process = ctx.Process(target=_run_sink, args=(child,), daemon=True)
    sink_process.start()
    sink_port = parent.recv()
    sink = f"http://127.0.0.1:{sink_port}/hook"
    with tempfile.TemporaryDirectory() as tmp:
        sandbox, url = start_sandbox(f"{tmp}/bench.sqlite3")
        try:
            with ctx.Pool(clients) as pool:
                tokens = _register(pool, url, sessions, clients)
                start_at = time.time() + 0.5
                jobs = [(url, part, sink, connections, start_at) for part in _split(tokens, clients)]
                cpu_before = _cpu_seconds(sandbox.pid), _cpu_seconds(sink_process.pid or 0)
                results = pool.map(_pay_worker, jobs)
                sandbox_cpu = _cpu_seconds(sandbox.pid) - cpu_before[0]
                sink_cpu = _cpu_seconds(sink_process.pid or 0) - cpu_before[1]
            elapsed = _report(results, start_at, clients, connections)
            client_cpu = sum(result[3] for result in results)
            print(
                f"CPU while paying ({os.cpu_count()} cores, {elapsed:.2f} s): sandbox {sandbox_cpu:.2f} s"
                f" ({sandbox_cpu / elapsed:.0%} of a core), clients {client_cpu:.2f} s, webhook sink {sink_cpu:.2f} s"
            )
            _report_webhooks(sink_port, sessions, start_at)
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=10)
            sink_process.terminate()


def _register(pool: Any, url: str, sessions: int, clients: int) -> list[str]:
    counts = [sessions // clients + (n < sessions % clients) for n in range(clients)]
    parts = pool.starmap(_create_sessions, [(url, count) for count in counts])
    return [token for part in parts for token in part]


def _report(
    results: list[tuple[list[float], int, float, float]],
    start_at: float,
    clients: int,
    connections: int,
) -> float:
    """Print throughput, latency and errors; the seconds the payments took."""
    latencies = sorted(latency for result in results for latency in result[0])
    errors = sum(result[1] for result in results)
    elapsed = max(result[2] for result in results) - start_at
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"POST /v1/payments: {len(latencies)} in {elapsed:.2f} s = {len(latencies) / elapsed:.0f}/s;"
        f" latency p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms;"
        f" errors {errors}; {clients} client processes x {connections} connections"
    )
    return elapsed


def _report_webhooks(sink_port: int, expected: int, start_at: float) -> None:
    deadline = time.time() + 60
    while (received := sink_count(sink_port)) < expected and time.time() < deadline:
        time.sleep(0.1)
    print(f"webhooks: {received}/{expected} delivered {time.time() - start_at:.2f} s after the start")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m psp_sandbox.bench", description=__doc__)
    parser.add_argument("--sessions", type=int, default=5000, help="payments to make (default 5000)")
    parser.add_argument("--clients", type=int, default=4, help="client processes (default 4)")
    parser.add_argument("--connections", type=int, default=4, help="connections per client (default 4)")
    args = parser.parse_args()
    run(args.sessions, args.clients, args.connections)


if __name__ == "__main__":
    main()
