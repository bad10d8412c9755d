"""Reads about payments that several places need."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from payments.models import Checkout, NotificationEndpoint, PaymentAttempt, StorefrontEvent
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


def checkout_with_latest_attempt(*, checkout_id: uuid.UUID) -> tuple[Checkout, PaymentAttempt | None] | None:
    """The checkout and its newest attempt (as `checkout_latest_attempt`), read together in one
    query (the attempt joined to its checkout); a second only when it has no attempt yet. None
    when no checkout has this id."""
    latest = PaymentAttempt.objects.select_related("checkout").filter(checkout_id=checkout_id).order_by(
        "-created_at").first()
    if latest is not None:
        return latest.checkout, latest
    checkout = Checkout.objects.filter(id=checkout_id).first()
    return (checkout, None) if checkout is not None else None


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


def storefront_events_after(
    *, storefront_id: int, after: str, limit: int
) -> tuple[list[dict[str, Any]], bool] | None:
    """The storefront's events after the one whose id is `after` ("" for the first), in commit
    order (their `position`), at most `limit`, and whether more follow; None when `after` is not
    one of its events. Positions commit in order, so paging never steps past a later commit."""
    events = StorefrontEvent.objects.filter(storefront_id=storefront_id).exclude(type="test.ping")
    if after:
        start = StorefrontEvent.objects.filter(storefront_id=storefront_id, public_id=after).values_list(
            "position", flat=True).first()
        if start is None:
            return None
        events = events.filter(position__gt=start)
    page = list(events.order_by("position").values_list("body", flat=True)[: limit + 1])
    return page[:limit], len(page) > limit


@dataclass(frozen=True)
class EndpointBacklog:
    """A storefront's endpoint, with its events still to deliver (due, retrying, or waiting while
    it is disabled) and those given up."""

    endpoint: NotificationEndpoint
    waiting: int
    given_up: int


def _events_in(delivery: str) -> Coalesce:
    """How many of the endpoint's storefront's events are in `delivery`: one range of the
    (storefront, delivery) index, never the storefront's delivered history."""
    count = (StorefrontEvent.objects.filter(storefront_id=OuterRef("storefront_id"), delivery=delivery)
             .order_by().values("storefront_id").annotate(total=Count("id")).values("total"))
    return Coalesce(Subquery(count, output_field=IntegerField()), 0)


def _with_backlog(endpoints: QuerySet[NotificationEndpoint]) -> list[EndpointBacklog]:
    rows = endpoints.select_related("storefront").annotate(
        waiting=_events_in(StorefrontEvent.Delivery.PENDING), given_up=_events_in(StorefrontEvent.Delivery.GIVEN_UP)
    )
    return [EndpointBacklog(endpoint=row, waiting=row.waiting, given_up=row.given_up) for row in rows]


def storefront_endpoint_backlog(*, storefront_id: int) -> EndpointBacklog | None:
    """The storefront's endpoint and its backlog (one query); None when it has no endpoint."""
    found = _with_backlog(NotificationEndpoint.objects.filter(storefront_id=storefront_id))
    return found[0] if found else None


@dataclass(frozen=True)
class NotificationHealth:
    failing_count: int
    failing: list[EndpointBacklog]  # disabled first, then the longest failing
    given_up: int  # events given up, across storefronts, until staff send them again
    disable_after: timedelta  # how long an endpoint fails before it is disabled


def notification_health(*, limit: int = 20) -> NotificationHealth:
    """The endpoints that are failing or disabled (disabled ones stay listed until enabled again:
    their events wait, nothing is dropped), and the events given up. Three small queries."""
    failing = NotificationEndpoint.objects.filter(Q(failing_since__isnull=False) | Q(disabled_at__isnull=False))
    ordered = failing.order_by(F("disabled_at").asc(nulls_last=True), F("failing_since").asc(nulls_last=True), "id")
    return NotificationHealth(
        failing_count=failing.count(), failing=_with_backlog(ordered[:limit]),
        given_up=StorefrontEvent.objects.filter(delivery=StorefrontEvent.Delivery.GIVEN_UP).count(),
        disable_after=settings.NOTIFY_DISABLE_AFTER,
    )
