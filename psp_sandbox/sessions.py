"""Checkout sessions: registering one, and reading it with its latest payment."""

from __future__ import annotations

import sqlite3

from .errors import ApiError, not_found
from .ids import new_id
from .objects import JsonObject, session_json
from .store import Tx
from .validation import SessionRequest


def session_find(conn: sqlite3.Connection, token: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute("SELECT * FROM sessions WHERE token = ?", (token,)).fetchone()
    return row


def latest_payment(conn: sqlite3.Connection, token: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM payments WHERE token = ? ORDER BY seq DESC LIMIT 1", (token,)
    ).fetchone()
    return row


def session_payments(conn: sqlite3.Connection, token: str) -> list[sqlite3.Row]:
    if session_find(conn, token) is None:
        raise not_found("session")
    return list(conn.execute("SELECT * FROM payments WHERE token = ? ORDER BY seq", (token,)))


def session_view(conn: sqlite3.Connection, token: str, now: float) -> JsonObject:
    session = session_find(conn, token)
    if session is None:
        raise not_found("session")
    return session_json(session, latest_payment(conn, token), now)


def session_create(tx: Tx, *, request: SessionRequest, ttl: float, now: float) -> tuple[int, JsonObject]:
    """201 with a new session, or 200 with the same one when `checkout_id` is
    registered already with the same amount and currency (a retry); 409 when
    it is registered with another amount or currency."""
    existing = tx.conn.execute("SELECT * FROM sessions WHERE checkout_id = ?", (request.checkout_id,)).fetchone()
    if existing is not None:
        same = (existing["amount_minor"], existing["currency"]) == (
            request.amount_minor,
            request.currency,
        )
        if not same:
            raise ApiError(
                409,
                "checkout_id_conflict",
                "checkout_id is registered already with another amount or currency",
            )
        return 200, session_json(existing, latest_payment(tx.conn, existing["token"]), now)
    token = new_id("tok")
    tx.conn.execute(
        "INSERT INTO sessions (token, checkout_id, amount_minor, currency, description,"
        " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            token,
            request.checkout_id,
            request.amount_minor,
            request.currency,
            request.description,
            now,
            now + ttl,
        ),
    )
    row = session_find(tx.conn, token)
    assert row is not None
    return 201, session_json(row, None, now)
