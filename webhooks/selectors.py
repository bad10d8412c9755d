"""Reads about webhook deliveries that several places need (the mid-office dashboard)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from webhooks.models import WebhookEvent
from webhooks.refusals import refusals_by_reason


@dataclass(frozen=True)
class WebhookHealth:
    refused_by_reason: dict[str, int]
    failed_count: int
    failed_latest: list[WebhookEvent]

    @property
    def refused(self) -> int:
        return sum(self.refused_by_reason.values())


def webhook_health(*, now: datetime, hours: int = 24, limit: int = 10) -> WebhookHealth:
    """Deliveries refused (bad signature or timestamp, bad headers, signed bodies that are not
    events) and events whose processing failed, over the last `hours` hours. Refusals come from
    the cache's hourly counters (the hour `hours` ago included); failures use the outcome index."""
    since = now - timedelta(hours=hours)
    failed = WebhookEvent.objects.filter(outcome=WebhookEvent.Outcome.FAILED, received_at__gte=since)
    return WebhookHealth(
        refused_by_reason=refusals_by_reason(now=now, hours=hours + 1), failed_count=failed.count(),
        failed_latest=list(failed.order_by("-received_at")[:limit]),
    )
