"""The checkout as storefronts read it: the object of `GET /api/checkouts/{id}/`, which is also the
`data` of every storefront event. One function, so the API and the events can never disagree."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from payments.models import Checkout, PaymentAttempt, Refund
from payments.money import format_amount
from payments.selectors import checkout_latest_attempt
from paysite.site import site_url


def checkout_document(checkout: Checkout, *, latest: PaymentAttempt | None = None,
                      new: bool = False) -> dict[str, Any]:
    """The checkout object of the contract (its latest attempt as `payment`); `latest` saves the
    query when the caller holds that attempt already, and `new` (a checkout created by this very
    request, which no one can have paid yet) when there is none."""
    attempt = None if new else latest or checkout_latest_attempt(checkout=checkout)
    return {
        "id": str(checkout.id), "status": checkout.status, "amount": format_amount(checkout.amount, checkout.currency),
        "currency": checkout.currency, "description": checkout.description, "reference": checkout.reference,
        "token": checkout.psp_token, "purchase_url": site_url("checkout-purchase", checkout.id),
        "expires_at": api_time(checkout.expires_at), "created_at": api_time(checkout.created_at),
        "payment": payment_document(attempt) if attempt else None,
    }


def payment_document(attempt: PaymentAttempt) -> dict[str, Any]:
    return {
        "id": str(attempt.id), "status": attempt.status, "payment_method": attempt.payment_method,
        "failure_code": attempt.failure_code or None, "psp_payment_id": attempt.psp_payment_id,
        "refunded_amount": format_amount(attempt.refunded_amount, attempt.currency),
        "created_at": api_time(attempt.created_at), "updated_at": api_time(attempt.updated_at),
    }


def refund_document(refund: Refund) -> dict[str, Any]:
    return {
        "id": str(refund.id), "status": refund.status, "amount": format_amount(refund.amount, refund.currency),
        "currency": refund.currency, "reason": refund.reason, "failure_code": refund.failure_code or None,
        "psp_refund_id": refund.psp_refund_id, "created_at": api_time(refund.created_at),
        "updated_at": api_time(refund.updated_at),
    }


def api_time(value: datetime | None) -> str | None:
    """A time as the API writes it (as DRF does): ISO 8601, UTC as `Z`."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
