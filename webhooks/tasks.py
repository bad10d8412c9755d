"""Celery tasks for webhooks: thin wrappers that call `webhooks.processing`. A failed event is
not retried through the broker: its due time (`retry_at`) is in the database, and the sweeper
rings again, so a retry lost with the broker is never lost for good."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from webhooks.processing import event_process, events_requeue_stale
from webhooks.retention import webhook_bodies_prune


@shared_task
def process_event(event_pk: int) -> str:
    return event_process(event_pk=event_pk)


@shared_task
def requeue_stale_events() -> int:
    stale = events_requeue_stale(older_than_seconds=settings.WEBHOOK_REQUEUE_AFTER)
    for event_pk in stale:
        process_event.delay(event_pk)
    return len(stale)


@shared_task
def prune_webhook_bodies() -> int:
    return webhook_bodies_prune()
