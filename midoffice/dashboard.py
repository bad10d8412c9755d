"""The dashboard page's data, gathered from the selectors of payments and webhooks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from midoffice.chart import Chart, hourly_chart
from midoffice.dashboard_selectors import (
    Conversion,
    ReviewQueue,
    StatusTotal,
    StuckBucket,
    attempt_totals,
    attempts_per_hour,
    checkout_conversion,
    review_queue,
    stuck_board,
)
from payments.selectors import NotificationHealth, notification_health
from webhooks.selectors import WebhookHealth, webhook_health


@dataclass(frozen=True)
class Dashboard:
    now: datetime
    totals: list[StatusTotal]
    conversion: dict[str, Conversion]
    chart: Chart
    stuck: list[StuckBucket]
    review: ReviewQueue
    webhooks: WebhookHealth
    notifications: NotificationHealth


def dashboard_build(*, now: datetime) -> Dashboard:
    return Dashboard(
        now=now, totals=attempt_totals(now=now), conversion=checkout_conversion(now=now),
        chart=hourly_chart(attempts_per_hour(now=now)), stuck=stuck_board(now=now), review=review_queue(),
        webhooks=webhook_health(now=now), notifications=notification_health(),
    )
