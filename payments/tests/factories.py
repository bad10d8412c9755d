"""PSP answers as docs/psp-protocol.md writes them, and attempts, endpoints and storefront events made directly."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from django.utils import timezone

from checkout.models import Checkout, Storefront
from payments.models import NotificationEndpoint, PaymentAttempt, StorefrontEvent
from payments.notifications import new_secret
from payments.outbox import next_position
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


def make_endpoint(storefront: Storefront, **fields: Any) -> NotificationEndpoint:
    values: dict[str, Any] = {"url": "https://shop.example/paysite-events", "secret": new_secret(),
                              "secret_created_at": timezone.now()}
    values.update(fields)
    return NotificationEndpoint.objects.create(storefront=storefront, **values)


def make_event(storefront: Storefront, checkout: Checkout | None = None, **fields: Any) -> StorefrontEvent:
    """An event of the outbox as the status writer would leave it (its body the checkout's token
    included), the checkout's next sequence; a `test.ping` without a checkout."""
    public_id = f"evt_{uuid.uuid4().hex}"
    event_type = fields.pop("type", "checkout.paid" if checkout else "test.ping")
    sequence = StorefrontEvent.objects.filter(checkout=checkout).count() + 1 if checkout else 0
    data = {"id": str(checkout.id), "token": checkout.psp_token, "status": checkout.status} if checkout else {
        "storefront": storefront.name}
    values: dict[str, Any] = {
        "public_id": public_id, "type": event_type, "sequence": sequence, "next_attempt_at": timezone.now(),
        "position": next_position(storefront.id),
        "body": {"id": public_id, "type": event_type, "created_at": "2026-11-30T07:00:00Z", "sequence": sequence,
                 "data": data},
    }
    values.update(fields)
    return StorefrontEvent.objects.create(storefront=storefront, checkout=checkout, **values)
