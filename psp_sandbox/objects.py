"""Database rows rendered as the contract's JSON objects."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from .clock import rfc3339
from .money import format_amount

JsonObject = dict[str, Any]


def payment_json(row: sqlite3.Row) -> JsonObject:
    currency = row["currency"]
    next_action = None
    if row["status"] == "requires_action":
        next_action = {"type": "redirect", "url": row["next_action_url"]}
    return {
        "id": row["id"],
        "token": row["token"],
        "checkout_id": row["checkout_id"],
        "amount": format_amount(row["amount_minor"], currency),
        "currency": currency,
        "payment_method": row["payment_method"],
        "status": row["status"],
        "failure_code": row["failure_code"],
        "failure_message": row["failure_message"],
        "next_action": next_action,
        "refunded_amount": format_amount(row["refunded_minor"], currency),
        "metadata": json.loads(row["metadata"]),
        "version": row["version"],
        "created_at": rfc3339(row["created_at"]),
        "updated_at": rfc3339(row["updated_at"]),
    }


def session_status(row: sqlite3.Row, latest_payment: sqlite3.Row | None, now: float) -> str:
    # After a succeeded payment the token rule returns that payment forever, so
    # it is always the newest one: the latest payment alone decides `completed`.
    if latest_payment is not None and latest_payment["status"] == "succeeded":
        return "completed"
    return "expired" if now >= row["expires_at"] else "open"


def session_json(row: sqlite3.Row, latest_payment: sqlite3.Row | None, now: float) -> JsonObject:
    return {
        "token": row["token"],
        "checkout_id": row["checkout_id"],
        "amount": format_amount(row["amount_minor"], row["currency"]),
        "currency": row["currency"],
        "description": row["description"],
        "status": session_status(row, latest_payment, now),
        "expires_at": rfc3339(row["expires_at"]),
        "created_at": rfc3339(row["created_at"]),
        "latest_payment": payment_json(latest_payment) if latest_payment else None,
    }


def refund_json(row: sqlite3.Row) -> JsonObject:
    return {
        "id": row["id"],
        "payment_id": row["payment_id"],
        "amount": format_amount(row["amount_minor"], row["currency"]),
        "currency": row["currency"],
        "status": row["status"],
        "reason": row["reason"],
        "created_at": rfc3339(row["created_at"]),
        "updated_at": rfc3339(row["updated_at"]),
    }


def dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
