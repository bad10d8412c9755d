"""The webhook delivery worker: a dispatcher thread and a few sender threads.

The `deliveries` table is the queue, so a delivery that is due, or a retry
that is scheduled, survives a restart. The dispatcher claims due rows in
batches, hands them to the senders, and writes the senders' outcomes back in
batches too, so delivering costs the database two short transactions per
batch rather than per event.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

from . import clock
from .poster import Poster
from .signing import secret_key, webhook_headers
from .store import Database

log = logging.getLogger("psp_sandbox")

# PSP seconds from one attempt to the next: 5 s after the first, then 5 min,
# 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h (Standard Webhooks); then dropped.
RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
CLAIM_BATCH = 500
IDLE_WAIT = 1.0


@dataclass(frozen=True)
class Delivery:
    row_id: int
    event_id: str
    url: str
    body: bytes
    attempts: int


@dataclass(frozen=True)
class Outcome:
    delivery: Delivery
    delivered: bool
    attempted_at: float


class DeliveryWorker:
    def __init__(self, db: Database, *, secret: str, time_scale: float, senders: int = 8) -> None:
        self._db = db
        self._key = secret_key(secret)
        self._time_scale = time_scale
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._work: queue.SimpleQueue[list[Delivery] | None] = queue.SimpleQueue()
        self._outcomes: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._dispatch, name="webhook-dispatch", daemon=True)]
        self._threads += [
            threading.Thread(target=self._send_loop, name=f"webhook-send-{n}", daemon=True) for n in range(senders)
        ]

    def start(self) -> None:
        # Rows claimed by a process that stopped were never confirmed: send again.
        with self._db.write() as tx:
            tx.conn.execute("UPDATE deliveries SET claimed = 0 WHERE claimed = 1")
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for _ in self._threads[1:]:
            self._work.put(None)
        # One budget for all threads: a sender stuck on a slow receiver (up to
        # the 10 s timeout) must not hold up the stop; its row is resent later.
        deadline = clock.now() + 2.0
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - clock.now()))
        # Outcomes of the last attempts, so scheduled retries keep their times.
        self._record_outcomes()

    # dispatcher ----------------------------------------------------------

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self._record_outcomes()
                next_due = self._claim_due()
            except Exception:
                log.exception("webhook dispatch failed; retrying")
                next_due = None
            wait = IDLE_WAIT if next_due is None else next_due - clock.now()
            if wait > 0:
                self._wake.wait(min(wait, IDLE_WAIT))

    def _claim_due(self) -> float | None:
        """Hand every due delivery to the senders; the next due time, if any."""
        now = clock.now()
        with self._db.write() as tx:
            rows = tx.conn.execute(
                "SELECT id, event_id, group_key, url, body, attempts FROM deliveries"
                " WHERE claimed = 0 AND due_at <= ? ORDER BY due_at, id LIMIT ?",
                (now, CLAIM_BATCH),
            ).fetchall()
            tx.conn.executemany(
                "UPDATE deliveries SET claimed = 1 WHERE id = ?",
                [(row["id"],) for row in rows],
            )
            (next_due,) = tx.conn.execute("SELECT MIN(due_at) FROM deliveries WHERE claimed = 0").fetchone()
        groups: dict[str, list[Delivery]] = {}
        for row in rows:
            delivery = Delivery(
                row["id"],
                row["event_id"],
                row["url"],
                bytes(row["body"]),
                row["attempts"],
            )
            if row["group_key"] is None:
                self._work.put([delivery])
            else:
                groups.setdefault(row["group_key"], []).append(delivery)
        for held in groups.values():
            # A held group goes to one sender, newest event first.
            self._work.put(sorted(held, key=lambda d: d.row_id, reverse=True))
        return float(next_due) if next_due is not None else None

    def _record_outcomes(self) -> None:
        outcomes: list[Outcome] = []
        while True:
            try:
                outcomes.append(self._outcomes.get_nowait())
            except queue.Empty:
                break
        if not outcomes:
            return
        done, retries = [], []
        for outcome in outcomes:
            attempts = outcome.delivery.attempts + 1
            if outcome.delivered or attempts > len(RETRY_SCHEDULE):
                done.append((outcome.delivery.row_id,))
            else:
                due_at = outcome.attempted_at + RETRY_SCHEDULE[attempts - 1] * self._time_scale
                retries.append((attempts, due_at, outcome.delivery.row_id))
        with self._db.write() as tx:
            tx.conn.executemany("DELETE FROM deliveries WHERE id = ?", done)
            tx.conn.executemany(
                "UPDATE deliveries SET attempts = ?, due_at = ?, claimed = 0, group_key = NULL WHERE id = ?",
                retries,
            )

    # senders ---------------------------------------------------------------

    def _send_loop(self) -> None:
        poster = Poster()
        try:
            while True:
                batch = self._work.get()
                if batch is None:
                    return
                for delivery in batch:
                    self._outcomes.put(self._send(poster, delivery))
                self._wake.set()
        finally:
            poster.close()

    def _send(self, poster: Poster, delivery: Delivery) -> Outcome:
        attempted_at = clock.now()
        # Each attempt is signed anew with its own timestamp; id and body stay.
        headers = webhook_headers(self._key, delivery.event_id, int(attempted_at), delivery.body)
        try:
            status = poster.post(delivery.url, delivery.body, headers)
        except Exception:  # a URL http.client cannot even try: a failed attempt
            log.debug("webhook to %s failed", delivery.url, exc_info=True)
            status = None
        delivered = status is not None and 200 <= status < 300
        return Outcome(delivery, delivered, attempted_at)
