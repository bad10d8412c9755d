"""The sandbox's own SQLite file: schema, connections and transactions.

One writer connection behind a process-wide lock: every write is one short
`BEGIN IMMEDIATE` transaction, which also makes check-then-insert rules (the
token rule, refund totals) atomic without retry loops. Reads use a small pool
of separate connections, which WAL lets run beside the writer.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    token        TEXT PRIMARY KEY,
    checkout_id  TEXT NOT NULL UNIQUE,
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    currency     TEXT NOT NULL,
    description  TEXT,
    created_at   REAL NOT NULL,
    expires_at   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS payments (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    token           TEXT NOT NULL REFERENCES sessions (token),
    checkout_id     TEXT NOT NULL,
    amount_minor    INTEGER NOT NULL CHECK (amount_minor > 0),
    currency        TEXT NOT NULL,
    payment_method  TEXT NOT NULL,
    status          TEXT NOT NULL
        CHECK (status IN ('requires_action', 'pending', 'succeeded', 'failed')),
    failure_code    TEXT,
    failure_message TEXT,
    next_action_url TEXT,
    refunded_minor  INTEGER NOT NULL DEFAULT 0
        CHECK (refunded_minor BETWEEN 0 AND amount_minor),
    metadata        TEXT NOT NULL,
    redirect_url    TEXT NOT NULL,
    webhook_url     TEXT NOT NULL,
    version         INTEGER NOT NULL,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    settle_due      REAL
);
-- The token rule, enforced by the database as well as by the write lock.
CREATE UNIQUE INDEX IF NOT EXISTS payments_one_live_per_token
    ON payments (token) WHERE status != 'failed';
CREATE INDEX IF NOT EXISTS payments_by_token ON payments (token, seq);
CREATE INDEX IF NOT EXISTS payments_settle_due
    ON payments (settle_due) WHERE settle_due IS NOT NULL;
CREATE TABLE IF NOT EXISTS refunds (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    payment_id   TEXT NOT NULL REFERENCES payments (id),
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    currency     TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    reason       TEXT,
    created_at   REAL NOT NULL,
    updated_at   REAL NOT NULL,
    settle_due   REAL
);
CREATE INDEX IF NOT EXISTS refunds_by_payment ON refunds (payment_id);
CREATE INDEX IF NOT EXISTS refunds_settle_due
    ON refunds (settle_due) WHERE settle_due IS NOT NULL;
-- One row per delivery still to make; a delivered or given-up one is deleted.
CREATE TABLE IF NOT EXISTS deliveries (
    id         INTEGER PRIMARY KEY,
    event_id   TEXT NOT NULL,
    group_key  TEXT,
    url        TEXT NOT NULL,
    body       BLOB NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    due_at     REAL NOT NULL,
    claimed    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (claimed, due_at);
CREATE INDEX IF NOT EXISTS deliveries_group ON deliveries (group_key)
    WHERE group_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS idempotency (
    scope       TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      INTEGER NOT NULL,
    body        BLOB NOT NULL,
    created_at  REAL NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency (created_at);
"""


class Tx:
    """An open write transaction and the work to run once it has committed."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._after_commit: list[Callable[[], None]] = []

    def on_commit(self, callback: Callable[[], None]) -> None:
        if callback not in self._after_commit:
            self._after_commit.append(callback)

    def run_after_commit(self) -> None:
        for callback in self._after_commit:
            callback()


def _connect(path: str) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction
    # is exactly as long as the `with` block that opened it.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class Database:
    def __init__(self, path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._writer = _connect(path)
        self._writer.execute("PRAGMA journal_mode=WAL")
        self._writer.executescript(SCHEMA)
        self._write_lock = threading.Lock()
        self._readers: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """One write transaction; callbacks registered on it run after COMMIT,
        outside the lock."""
        with self._write_lock:
            tx = Tx(self._writer)
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield tx
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._writer.execute("COMMIT")
        tx.run_after_commit()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for the length of the block."""
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            conn = _connect(self._path)
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")
        finally:
            self._readers.put(conn)

    def close(self) -> None:
        with self._write_lock:
            self._writer.close()
            while not self._readers.empty():
                self._readers.get_nowait().close()
