"""Reads about payments that several places need."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet, Sum

from payments.models import Checkout, PaymentAttempt, StorefrontEvent
from payments.states import AttemptStatus, CheckoutStatus, RefundStatus


def checkout_expired(*, checkout: Checkout, now: datetime) -> bool:
    """Whether the checkout can no longer be paid because its PSP session has ended: marked expired,
    or still open past the session's end (before the sweeper marks it). The one expiry rule."""
    return checkout.status == CheckoutStatus.EXPIRED or (
        checkout.status == CheckoutStatus.OPEN and checkout.expires_at <= now
    )


def checkouts_past_expiry(*, now: datetime) -> QuerySet[Checkout]:
    """The open checkouts that `checkout_expired` calls expired, as a query (for the sweeper)."""
    return Checkout.objects.filter(status=CheckoutStatus.OPEN, expires_at__lte=now)


def checkout_latest_attempt(*, checkout: Checkout) -> PaymentAttempt | None:
    """The checkout's newest attempt, the one its status follows; None before the first Buy Now."""
    return checkout.attempts.order_by("-created_at").first()


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


# An event is listed once it is this old: ids are taken in insert order, commits can land a moment
# out of that order, and a reader paging with `after` must not step past one still committing.
EVENTS_SETTLE = timedelta(seconds=2)


def storefront_events_after(
    *, storefront_id: int, after: str, limit: int, now: datetime
) -> tuple[list[dict[str, Any]], bool] | None:
    """The storefront's events after the one whose id is `after` ("" for the first), oldest first,
    at most `limit`, and whether more follow; None when `after` is not one of its events."""
    events = StorefrontEvent.objects.filter(storefront_id=storefront_id, created_at__lte=now - EVENTS_SETTLE).exclude(
        type="test.ping"
    )
    if after:
        start = StorefrontEvent.objects.filter(storefront_id=storefront_id, public_id=after).values_list(
            "pk", flat=True).first()
        if start is None:
            return None
        events = events.filter(pk__gt=start)
    page = list(events.order_by("pk").values_list("body", flat=True)[: limit + 1])
    return page[:limit], len(page) > limit
