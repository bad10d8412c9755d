"""Idempotency keys (draft-ietf-httpapi-idempotency-key-header).

A key being processed is held in memory: "in flight" only means something
while this process runs, and a crash must not leave a key stuck. The answer
is stored in the same write transaction as the change it reports, so a
stored change always has its stored answer, and an answer that was never
sent (error_after, drop_after) is still replayed. A request that failed with
a 5xx before it changed anything rolled back and stored nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from email.message import Message

from .errors import ApiError, invalid_request
from .store import Database, Tx

MAX_AGE = 24 * 3600.0
_KEY = re.compile(r"[\x20-\x7e]{1,255}")


@dataclass(frozen=True)
class Claim:
    scope: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class Replay:
    status: int
    body: bytes


def header_key(headers: Message) -> str | None:
    """The request's Idempotency-Key, or None; 400 when it is malformed."""
    values = headers.get_all("Idempotency-Key")
    if not values:
        return None
    if len(values) > 1 or not _KEY.fullmatch(values[0]):
        raise invalid_request(
            "Idempotency-Key must be one header of 1 to 255 printable ASCII characters",
            400,
        )
    return values[0]


def fingerprint(method: str, path: str, body: object) -> str:
    # The body compared after parsing: key order and spacing do not matter.
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{method}\n{path}\n{canonical}".encode()).hexdigest()


class IdempotencyKeys:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._in_flight: dict[tuple[str, str], str] = {}

    def begin(self, scope: str, key: str, print_: str, now: float) -> Claim | Replay:
        """Claim the key for a new request, or the stored answer to replay;
        409 while another request holds it, 422 when it was used otherwise."""
        replay: Replay | None = None
        with self._lock:
            held = self._in_flight.get((scope, key))
            if held is None:
                stored = self._stored(scope, key, now)
                if stored is None:
                    self._in_flight[(scope, key)] = print_
                    return Claim(scope, key, print_)
                held, replay = stored
        if held != print_:
            raise ApiError(
                422,
                "idempotency_key_reused",
                "this Idempotency-Key was used with another request (method, path or body)",
            )
        if replay is None:
            raise ApiError(
                409,
                "idempotency_key_in_use",
                "a request with this Idempotency-Key is in progress",
            )
        return replay

    def _stored(self, scope: str, key: str, now: float) -> tuple[str, Replay] | None:
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT fingerprint, status, body FROM idempotency WHERE scope = ? AND key = ? AND created_at > ?",
                (scope, key, now - MAX_AGE),
            ).fetchone()
        if row is None:
            return None
        return row["fingerprint"], Replay(row["status"], bytes(row["body"]))

    def record(self, tx: Tx, claim: Claim, status: int, body: bytes, now: float) -> None:
        # REPLACE: an expired record of the same key may still be in the table.
        tx.conn.execute(
            "INSERT OR REPLACE INTO idempotency (scope, key, fingerprint, status, body,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (claim.scope, claim.key, claim.fingerprint, status, body, now),
        )

    def release(self, claim: Claim) -> None:
        with self._lock:
            self._in_flight.pop((claim.scope, claim.key), None)

    def purge(self, tx: Tx, now: float) -> None:
        tx.conn.execute("DELETE FROM idempotency WHERE created_at <= ?", (now - MAX_AGE,))
