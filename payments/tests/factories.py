"""PSP answers as docs/psp-protocol.md writes them, and attempts made directly."""

from __future__ import annotations

import secrets
from typing import Any

from checkout.models import Checkout
from payments.models import PaymentAttempt
from payments.states import AttemptStatus, CheckoutStatus, checkout_status_for

PSP = "http://psp.test"


def session_json(checkout: Checkout | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "token": checkout.psp_token if checkout else f"tok_{secrets.token_hex(12)}",
        "checkout_id": str(checkout.id) if checkout else "6f1c",
        "amount": "12.50", "currency": "EUR", "description": "Order 1042", "status": "open",
        "expires_at": "2099-11-24T10:15:00Z", "created_at": "2026-11-23T10:15:00Z", "latest_payment": None,
    }
    body.update(fields)
    return body


def payment_json(attempt: PaymentAttempt | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"pay_{secrets.token_hex(8)}", "token": attempt.checkout.psp_token if attempt else "tok_x",
        "checkout_id": str(attempt.checkout_id) if attempt else "6f1c", "amount": "12.50", "currency": "EUR",
        "payment_method": attempt.payment_method if attempt else "pm_card_visa", "status": "succeeded",
        "failure_code": None, "failure_message": None, "next_action": None, "refunded_amount": "0.00",
        "metadata": {"attempt_id": str(attempt.id)} if attempt else {}, "version": 1,
        "created_at": "2026-11-23T10:15:00Z", "updated_at": "2026-11-23T10:15:00Z",
    }
    body.update(fields)
    return body


def refund_json(payment_id: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"re_{secrets.token_hex(8)}", "payment_id": payment_id, "amount": "5.00", "currency": "EUR",
        "status": "pending", "reason": "customer request", "created_at": "2026-11-23T10:15:00Z",
        "updated_at": "2026-11-23T10:15:00Z",
    }
    body.update(fields)
    return body


def make_attempt(checkout: Checkout, **fields: Any) -> PaymentAttempt:
    values: dict[str, Any] = {
        "checkout": checkout, "payment_method": "pm_card_visa", "amount": checkout.amount,
        "currency": checkout.currency, "status": AttemptStatus.STARTED,
    }
    values.update(fields)
    attempt = PaymentAttempt(**values)
    attempt.idempotency_key = f"bps-payment-{attempt.id}"
    attempt.save(force_insert=True)
    if checkout.status == CheckoutStatus.OPEN:  # keep the checkout consistent with its new attempt
        checkout.status = checkout_status_for(attempt.status, checkout.amount, attempt.refunded_amount)
        checkout.save(update_fields=["status"])
    return attempt
