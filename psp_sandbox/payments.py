"""Payments: the token rule, status changes, settling and 3-D Secure outcomes.

Every function that writes takes an open `Tx`, so the write lock is held: a
check and the write it guards (the token rule above all) cannot interleave
with another request's.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from .errors import ApiError, not_found
from .events import EventWriter
from .ids import new_id
from .methods import FAILURE_MESSAGES, METHODS
from .objects import JsonObject, payment_json
from .sessions import session_find
from .states import PAYMENT_MOVES, check_move
from .store import Tx
from .validation import PaymentRequest


@dataclass(frozen=True)
class PaymentContext:
    events: EventWriter
    base_url: str  # where this request reached the sandbox, for next_action.url
    settle_after: float  # real seconds until a pending payment is final


def payment_find(conn: sqlite3.Connection, payment_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute("SELECT * FROM payments WHERE id = ?", (payment_id,)).fetchone()
    return row


def payment_get(conn: sqlite3.Connection, payment_id: str) -> sqlite3.Row:
    row = payment_find(conn, payment_id)
    if row is None:
        raise not_found("payment")
    return row


def live_payment(conn: sqlite3.Connection, token: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM payments WHERE token = ? AND status != 'failed'", (token,)
    ).fetchone()
    return row


def payment_create(tx: Tx, ctx: PaymentContext, *, request: PaymentRequest, now: float) -> tuple[int, JsonObject]:
    """Charge the session of `request.token` unless it holds a live payment.

    Checks in the contract's order: unknown token (404), amount or currency
    unlike the session's (422), the token rule (200 with the live payment),
    expiry (422, only when a new payment would be made), then 201.
    """
    session = session_find(tx.conn, request.token)
    if session is None:
        raise not_found("session")
    if (session["amount_minor"], session["currency"]) != (
        request.amount_minor,
        request.currency,
    ):
        raise ApiError(422, "amount_mismatch", "amount and currency must equal the session's")
    existing = live_payment(tx.conn, request.token)
    if existing is not None:
        return 200, payment_json(existing)
    if now >= session["expires_at"]:
        raise ApiError(422, "session_expired", "the session has expired")
    payment = _insert(tx, ctx, request=request, checkout_id=session["checkout_id"], now=now)
    data = payment_json(payment)
    ctx.events.emit(tx, payment=payment, event_type=f"payment.{payment['status']}", data=data)
    return 201, data


def _insert(
    tx: Tx,
    ctx: PaymentContext,
    *,
    request: PaymentRequest,
    checkout_id: str,
    now: float,
) -> sqlite3.Row:
    method = METHODS[request.payment_method]
    payment_id = new_id("pay")
    three_ds = method.status == "requires_action"
    next_action_url = f"{ctx.base_url}/sandbox/3ds/{payment_id}" if three_ds else None
    failure_message = FAILURE_MESSAGES[method.failure_code] if method.failure_code else None
    settle_due = now + ctx.settle_after if method.settles_to else None
    tx.conn.execute(
        "INSERT INTO payments (id, token, checkout_id, amount_minor, currency, payment_method,"
        " status, failure_code, failure_message, next_action_url, metadata, redirect_url,"
        " webhook_url, version, created_at, updated_at, settle_due)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
        (
            payment_id,
            request.token,
            checkout_id,
            request.amount_minor,
            request.currency,
            request.payment_method,
            method.status,
            method.failure_code,
            failure_message,
            next_action_url,
            json.dumps(request.metadata, separators=(",", ":")),
            request.redirect_url,
            request.webhook_url,
            now,
            now,
            settle_due,
        ),
    )
    return payment_get(tx.conn, payment_id)


def payment_move(
    tx: Tx,
    events: EventWriter,
    payment: sqlite3.Row,
    *,
    status: str,
    failure_code: str | None = None,
    now: float,
) -> sqlite3.Row:
    """Move `payment` to `status` (checked against the status machine), bump
    its version and queue `payment.<status>`."""
    check_move(PAYMENT_MOVES, payment["status"], status)
    failure_message = FAILURE_MESSAGES[failure_code] if failure_code else None
    tx.conn.execute(
        "UPDATE payments SET status = ?, failure_code = ?, failure_message = ?,"
        " settle_due = NULL, version = version + 1, updated_at = ? WHERE id = ?",
        (status, failure_code, failure_message, now, payment["id"]),
    )
    moved = payment_get(tx.conn, payment["id"])
    events.emit(tx, payment=moved, event_type=f"payment.{status}", data=payment_json(moved))
    return moved


def payment_add_refunded(
    tx: Tx, events: EventWriter, payment: sqlite3.Row, *, amount_minor: int, now: float
) -> sqlite3.Row:
    """Grow `refunded_amount` by a succeeded refund and queue `payment.refunded`."""
    tx.conn.execute(
        "UPDATE payments SET refunded_minor = refunded_minor + ?, version = version + 1, updated_at = ? WHERE id = ?",
        (amount_minor, now, payment["id"]),
    )
    changed = payment_get(tx.conn, payment["id"])
    events.emit(tx, payment=changed, event_type="payment.refunded", data=payment_json(changed))
    return changed


def payment_settle(tx: Tx, events: EventWriter, payment: sqlite3.Row, *, now: float) -> None:
    """Make a pending payment final, as its test method says."""
    method = METHODS[payment["payment_method"]]
    assert method.settles_to is not None
    payment_move(
        tx,
        events,
        payment,
        status=method.settles_to,
        failure_code=method.settle_failure_code,
        now=now,
    )


def payment_authenticate(tx: Tx, events: EventWriter, payment_id: str, *, approved: bool, now: float) -> sqlite3.Row:
    """The shopper's 3-D Secure answer. A payment no longer waiting for it is
    left as it is, so a second click or a reloaded form changes nothing."""
    payment = payment_get(tx.conn, payment_id)
    if payment["status"] != "requires_action":
        return payment
    if approved:
        return payment_move(tx, events, payment, status="succeeded", now=now)
    return payment_move(
        tx,
        events,
        payment,
        status="failed",
        failure_code="authentication_failed",
        now=now,
    )
