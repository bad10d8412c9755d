"""Reads for the mid-office dashboard: totals, conversion, attempts per hour, the stuck board and
the review queue. Each is one indexed query (the stuck board one per age bucket), so the page
costs the same at ten thousand attempts as at a million.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from payments import schedule
from payments.models import PaymentAttempt, Refund
from payments.states import UNFINISHED_ATTEMPT_STATUSES, AttemptStatus, RefundStatus

# What the hourly chart calls an outcome: the final statuses, review, and "not known yet".
OUTCOMES = ("succeeded", "failed", "needs_review", "unfinished")


def start_of_today(now: datetime) -> datetime:
    return timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class StatusTotal:
    status: str
    currency: str
    today_count: int
    today_amount: Decimal
    week_count: int
    week_amount: Decimal


def attempt_totals(*, now: datetime) -> list[StatusTotal]:
    """Attempts and their amounts per status and currency: today, and the last 7 days."""
    today, week = start_of_today(now), now - timedelta(days=7)
    in_today, in_week = Q(created_at__gte=today), Q(created_at__gte=week)
    rows = (
        PaymentAttempt.objects.filter(created_at__gte=min(today, week))
        .values("status", "currency")
        .annotate(
            today_count=Count("id", filter=in_today), today_amount=Sum("amount", filter=in_today),
            week_count=Count("id", filter=in_week), week_amount=Sum("amount", filter=in_week),
        )
        .order_by("currency", "status")
    )
    return [
        StatusTotal(
            status=row["status"], currency=row["currency"], today_count=row["today_count"],
            today_amount=row["today_amount"] or Decimal(0), week_count=row["week_count"],
            week_amount=row["week_amount"] or Decimal(0),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class Conversion:
    with_buy_now: int
    paid: int

    @property
    def percent(self) -> Decimal | None:
        if not self.with_buy_now:
            return None
        return (Decimal(100) * self.paid / self.with_buy_now).quantize(Decimal("0.1"))


def checkout_conversion(*, now: datetime) -> dict[str, Conversion]:
    """Paid checkouts over checkouts with a Buy Now, today and over the last 7 days.

    Counted from the attempts made in the period (distinct checkouts; a succeeded attempt means
    paid, refunded later or not): one range scan of the attempts' date index, where a count over
    checkouts would probe the attempts once per checkout."""
    today, week = start_of_today(now), now - timedelta(days=7)
    paid = Q(status=AttemptStatus.SUCCEEDED)
    totals = PaymentAttempt.objects.filter(created_at__gte=min(today, week)).aggregate(
        today_bought=Count("checkout_id", distinct=True, filter=Q(created_at__gte=today)),
        today_paid=Count("checkout_id", distinct=True, filter=paid & Q(created_at__gte=today)),
        week_bought=Count("checkout_id", distinct=True, filter=Q(created_at__gte=week)),
        week_paid=Count("checkout_id", distinct=True, filter=paid & Q(created_at__gte=week)),
    )
    return {
        "today": Conversion(with_buy_now=totals["today_bought"], paid=totals["today_paid"]),
        "week": Conversion(with_buy_now=totals["week_bought"], paid=totals["week_paid"]),
    }


def outcome_of(status: str) -> str:
    if status in (AttemptStatus.SUCCEEDED, AttemptStatus.FAILED, AttemptStatus.NEEDS_REVIEW):
        return str(status)
    return "unfinished"


def attempts_per_hour(*, now: datetime, hours: int = 24) -> list[tuple[datetime, dict[str, int]]]:
    """The last `hours` hours (the current one included), oldest first, each with its attempts per outcome."""
    current = now.replace(minute=0, second=0, microsecond=0)
    slots = [current - timedelta(hours=back) for back in range(hours - 1, -1, -1)]
    counts: dict[datetime, dict[str, int]] = {slot: dict.fromkeys(OUTCOMES, 0) for slot in slots}
    rows = (
        PaymentAttempt.objects.filter(created_at__gte=slots[0])
        .annotate(hour=TruncHour("created_at")).values("hour", "status").annotate(total=Count("id"))
        .order_by()
    )
    for row in rows:
        slot = counts.get(row["hour"])
        if slot is not None:
            slot[outcome_of(row["status"])] += row["total"]
    return list(counts.items())


@dataclass(frozen=True)
class StuckRow:
    attempt: PaymentAttempt
    age: timedelta
    review_at: datetime
    time_left: timedelta


@dataclass(frozen=True)
class StuckBucket:
    label: str
    count: int
    rows: list[StuckRow]


# Ages of an unfinished attempt, youngest first; None: no upper bound.
STUCK_BUCKETS: tuple[tuple[str, timedelta, timedelta | None], ...] = (
    ("under 5 minutes", timedelta(0), timedelta(minutes=5)),
    ("5 to 60 minutes", timedelta(minutes=5), timedelta(hours=1)),
    ("1 to 24 hours", timedelta(hours=1), timedelta(hours=24)),
    ("older than 24 hours", timedelta(hours=24), None),
)


def _age_filter(now: datetime, low: timedelta, high: timedelta | None) -> Q:
    condition = Q(created_at__lte=now - low)
    if high is not None:
        condition &= Q(created_at__gt=now - high)
    return condition


def stuck_board(*, now: datetime, rows_per_bucket: int = 20) -> list[StuckBucket]:
    """Unfinished attempts by age, each bucket with its count and its oldest rows."""
    unfinished = PaymentAttempt.objects.filter(status__in=sorted(UNFINISHED_ATTEMPT_STATUSES))
    counts = unfinished.aggregate(**{
        f"bucket{index}": Count("id", filter=_age_filter(now, low, high))
        for index, (_label, low, high) in enumerate(STUCK_BUCKETS)
    })
    buckets = []
    for index, (label, low, high) in enumerate(STUCK_BUCKETS):
        rows = []
        if counts[f"bucket{index}"]:
            attempts = unfinished.filter(_age_filter(now, low, high)).select_related("checkout").order_by("created_at")
            for attempt in attempts[:rows_per_bucket]:
                review_at = schedule.give_up_at(attempt.created_at)
                rows.append(StuckRow(attempt=attempt, age=now - attempt.created_at, review_at=review_at,
                                     time_left=max(timedelta(0), review_at - now)))
        buckets.append(StuckBucket(label=label, count=counts[f"bucket{index}"], rows=rows))
    return buckets


@dataclass(frozen=True)
class ReviewQueue:
    count: int
    oldest: list[PaymentAttempt]
    refund_count: int
    oldest_refunds: list[Refund]  # their amounts stay reserved until the review ends


def review_queue(*, limit: int = 20) -> ReviewQueue:
    waiting = PaymentAttempt.objects.filter(status=AttemptStatus.NEEDS_REVIEW)
    oldest = list(waiting.select_related("checkout").order_by("created_at")[:limit])
    refunds = Refund.objects.filter(status=RefundStatus.NEEDS_REVIEW)
    oldest_refunds = list(refunds.select_related("checkout").order_by("created_at")[:limit])
    return ReviewQueue(count=waiting.count(), oldest=oldest, refund_count=refunds.count(),
                       oldest_refunds=oldest_refunds)
