"""Refunds: creating one against a succeeded payment, and settling it."""

from __future__ import annotations

import sqlite3

from .errors import ApiError, not_found
from .events import EventWriter
from .ids import new_id
from .money import parse_amount
from .objects import JsonObject, refund_json
from .payments import payment_add_refunded, payment_get
from .states import REFUND_MOVES, check_move
from .store import Tx
from .validation import RefundRequest


def refund_get(conn: sqlite3.Connection, refund_id: str) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute("SELECT * FROM refunds WHERE id = ?", (refund_id,)).fetchone()
    if row is None:
        raise not_found("refund")
    return row


def refund_create(
    tx: Tx,
    *,
    payment_id: str,
    request: RefundRequest,
    now: float,
    settle_after: float,
) -> tuple[int, JsonObject]:
    """A pending refund of a succeeded payment. The sum of the payment's
    refunds that are not failed never passes its amount; the check and the
    insert share the write transaction, so concurrent refunds cannot race."""
    payment = payment_get(tx.conn, payment_id)
    amount_minor = _refundable_amount(tx, payment, request)
    refund_id = new_id("re")
    tx.conn.execute(
        "INSERT INTO refunds (id, payment_id, amount_minor, currency, status, reason,"
        " created_at, updated_at, settle_due) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
        (
            refund_id,
            payment_id,
            amount_minor,
            payment["currency"],
            request.reason,
            now,
            now,
            now + settle_after,
        ),
    )
    # No event: there is no `refund.pending` type in the contract.
    return 201, refund_json(refund_get(tx.conn, refund_id))


def _refundable_amount(tx: Tx, payment: sqlite3.Row, request: RefundRequest) -> int:
    """The refund's amount in minor units, once every refund rule holds."""
    if request.currency != payment["currency"]:
        raise ApiError(422, "amount_mismatch", "currency must be the payment's")
    amount_minor = parse_amount(request.amount, payment["currency"])
    if payment["status"] != "succeeded":
        raise ApiError(422, "payment_not_refundable", "only a succeeded payment can be refunded")
    (committed,) = tx.conn.execute(
        "SELECT COALESCE(SUM(amount_minor), 0) FROM refunds WHERE payment_id = ? AND status != 'failed'",
        (payment["id"],),
    ).fetchone()
    if committed + amount_minor > payment["amount_minor"]:
        raise ApiError(422, "refund_exceeds_payment", "refunds would pass the payment's amount")
    return amount_minor


def refund_outcome(amount_minor: int) -> str:
    # The sandbox's rule: an amount whose minor units end in 13 fails.
    return "failed" if amount_minor % 100 == 13 else "succeeded"


def refund_settle(tx: Tx, events: EventWriter, refund: sqlite3.Row, *, now: float) -> None:
    """Make a pending refund final; a success grows the payment's refunded amount."""
    status = refund_outcome(refund["amount_minor"])
    check_move(REFUND_MOVES, refund["status"], status)
    tx.conn.execute(
        "UPDATE refunds SET status = ?, settle_due = NULL, updated_at = ? WHERE id = ?",
        (status, now, refund["id"]),
    )
    settled = refund_get(tx.conn, refund["id"])
    payment = payment_get(tx.conn, refund["payment_id"])
    events.emit(tx, payment=payment, event_type=f"refund.{status}", data=refund_json(settled))
    if status == "succeeded":
        payment_add_refunded(tx, events, payment, amount_minor=refund["amount_minor"], now=now)
