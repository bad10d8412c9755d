"""The background thread that makes pending payments and refunds final.

It reads the `settle_due` columns, so what was pending before a restart
still settles after it. It also purges idempotency records past 24 hours.
"""

from __future__ import annotations

import logging
import threading

from . import clock
from .events import EventWriter
from .idempotency import IdempotencyKeys
from .payments import payment_settle
from .refunds import refund_settle
from .store import Database

log = logging.getLogger("psp_sandbox")

BATCH = 200
IDLE_WAIT = 1.0
PURGE_EVERY = 300.0


class Settler:
    def __init__(self, db: Database, events: EventWriter, keys: IdempotencyKeys) -> None:
        self._db = db
        self._events = events
        self._keys = keys
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="settler", daemon=True)
        self._last_purge = 0.0

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                next_due = self.settle_due()
                self._purge()
            except Exception:
                log.exception("settling failed; retrying")
                next_due = None
            wait = IDLE_WAIT if next_due is None else next_due - clock.now()
            if wait > 0:
                self._wake.wait(min(wait, IDLE_WAIT))

    def settle_due(self) -> float | None:
        """Settle what is due now; the next due time, if anything is pending."""
        now = clock.now()
        with self._db.write() as tx:
            payments = tx.conn.execute(
                "SELECT * FROM payments WHERE settle_due <= ? ORDER BY settle_due LIMIT ?",
                (now, BATCH),
            ).fetchall()
            for payment in payments:
                payment_settle(tx, self._events, payment, now=now)
            refunds = tx.conn.execute(
                "SELECT * FROM refunds WHERE settle_due <= ? ORDER BY settle_due LIMIT ?",
                (now, BATCH),
            ).fetchall()
            for refund in refunds:
                refund_settle(tx, self._events, refund, now=now)
            (next_due,) = tx.conn.execute(
                "SELECT MIN(due) FROM (SELECT MIN(settle_due) AS due FROM payments"
                " UNION ALL SELECT MIN(settle_due) FROM refunds)"
            ).fetchone()
        return float(next_due) if next_due is not None else None

    def _purge(self) -> None:
        now = clock.now()
        if now - self._last_purge < PURGE_EVERY:
            return
        self._last_purge = now
        with self._db.write() as tx:
            self._keys.purge(tx, now)
