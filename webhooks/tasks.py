"""Celery tasks for webhooks: thin wrappers that call `webhooks.processing`."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from webhooks.processing import event_process, events_requeue_stale
from webhooks.retention import webhook_bodies_prune

# Retries back off up to 5 minutes: always far below the broker's visibility timeout.
MAX_RETRY_DELAY = 300


@shared_task(bind=True, max_retries=8)
def process_event(self, event_pk: int) -> str:  # type: ignore[no-untyped-def]
    try:
        return event_process(event_pk=event_pk)
    except Exception as exc:
        raise self.retry(exc=exc, countdown=min(MAX_RETRY_DELAY, 5 * 2**self.request.retries)) from exc


@shared_task
def requeue_stale_events() -> int:
    stale = events_requeue_stale(older_than_seconds=settings.WEBHOOK_REQUEUE_AFTER)
    for event_pk in stale:
        process_event.delay(event_pk)
    return len(stale)


@shared_task
def prune_webhook_bodies() -> int:
    return webhook_bodies_prune()
