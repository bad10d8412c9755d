"""Reads about payments that several places need."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum

from payments.models import Checkout, PaymentAttempt
from payments.states import AttemptStatus, RefundStatus


@dataclass(frozen=True)
class Refundable:
    attempt: PaymentAttempt
    left: Decimal  # the amount paid less every refund that did not fail (pending ones included)


def checkout_refundable(*, checkout: Checkout) -> Refundable | None:
    """The succeeded attempt of a checkout and what is left to refund on it; None if nothing is paid."""
    attempt = checkout.attempts.filter(status=AttemptStatus.SUCCEEDED).first()
    if attempt is None:
        return None
    committed = attempt.refunds.exclude(status=RefundStatus.FAILED).aggregate(total=Sum("amount"))["total"]
    return Refundable(attempt=attempt, left=attempt.amount - (committed or Decimal(0)))
