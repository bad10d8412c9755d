"""A small closed-loop HTTP load generator for `make bench`.

`run(url, build, items, connections=16)` sends one request per item over `connections` kept-alive
connections (threads spread over a few forked processes, so the client is not held back by one
GIL), each connection sending its next request as soon as the last answer is read, and returns
what it saw: requests per second over the whole run, latencies, statuses. The same generator
drives the hello-world baseline and the BPS, so its own cost is in both sides of every ratio.
"""

from __future__ import annotations

import http.client
import multiprocessing
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

Request = tuple[str, str, dict[str, str], bytes | None]  # method, path, headers, body
Build = Callable[[Any], Request]


@dataclass
class Run:
    started: float = float("inf")
    ended: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    answers: list[tuple[Any, int, bytes]] = field(default_factory=list)  # (item, status, body) when kept

    def merge(self, other: Run) -> None:
        self.started, self.ended = min(self.started, other.started), max(self.ended, other.ended)
        self.latencies += other.latencies
        self.statuses += other.statuses
        self.answers += other.answers

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / (self.ended - self.started)

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies)

    def errors(self, ok: Sequence[int] = (200, 201)) -> int:
        return sum(number for status, number in self.statuses.items() if status not in ok)


def _connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)


def _send(url: str, build: Build, items: Sequence[Any], keep: bool, run: Run, lock: threading.Lock) -> None:
    connection = _connection(url)
    mine = Run()
    for item in items:
        method, path, headers, body = build(item)
        started = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            payload = answer.read()
            status = answer.status
        except (OSError, http.client.HTTPException):
            connection.close()
            connection = _connection(url)
            payload, status = b"", 599
        ended = time.perf_counter()
        mine.started, mine.ended = min(mine.started, started), ended
        mine.latencies.append(ended - started)
        mine.statuses[status] += 1
        if keep:
            mine.answers.append((item, status, payload))
    connection.close()
    with lock:
        run.merge(mine)


def _process(url: str, build: Build, slices: list[Sequence[Any]], keep: bool, go: Any, out: Any) -> None:
    run, lock = Run(), threading.Lock()
    threads = [threading.Thread(target=_send, args=(url, build, items, keep, run, lock)) for items in slices]
    go.wait()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put(run)


def run(url: str, build: Build, items: Sequence[Any], *, connections: int = 16, processes: int = 2,
        keep: bool = False) -> Run:
    """Send `build(item)` for every item; item i goes on connection i mod `connections`.
    `perf_counter` is the same clock in every process (CLOCK_MONOTONIC), so the run's span is the
    first request's start to the last answer's end, whichever process sent them."""
    context = multiprocessing.get_context("fork")
    processes = max(1, min(processes, connections))
    slices = [items[number::connections] for number in range(connections)]
    go, out = context.Event(), context.Queue()
    workers = [
        context.Process(target=_process, args=(url, build, slices[number::processes], keep, go, out))
        for number in range(processes)
    ]
    for worker in workers:
        worker.start()
    time.sleep(0.2)  # every process has its threads ready before the clock starts
    go.set()
    total = Run()
    for _worker in workers:
        total.merge(out.get())
    for worker in workers:
        worker.join()
    return total
