"""Reads about webhook deliveries that several places need (the mid-office dashboard)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Sum

from webhooks.models import WebhookEvent, WebhookRefusal


@dataclass(frozen=True)
class WebhookHealth:
    refused_by_reason: dict[str, int]
    failed_count: int
    failed_latest: list[WebhookEvent]

    @property
    def refused(self) -> int:
        return sum(self.refused_by_reason.values())


def webhook_health(*, now: datetime, hours: int = 24, limit: int = 10) -> WebhookHealth:
    """Deliveries refused (bad signature or timestamp, bad headers) and events whose processing
    failed, over the last `hours` hours. Refusals are hourly tallies; failures use the outcome index."""
    since = now - timedelta(hours=hours)
    refused = (
        WebhookRefusal.objects.filter(hour__gte=since.replace(minute=0, second=0, microsecond=0))
        .values("reason").annotate(total=Sum("count")).order_by("reason")
    )
    failed = WebhookEvent.objects.filter(outcome=WebhookEvent.Outcome.FAILED, received_at__gte=since)
    return WebhookHealth(
        refused_by_reason={row["reason"]: row["total"] for row in refused}, failed_count=failed.count(),
        failed_latest=list(failed.order_by("-received_at")[:limit]),
    )
