"""Celery tasks for webhooks: thin wrappers that call `webhooks.processing`. A failed event is
not retried through the broker: its due time (`retry_at`) is in the database, and the sweeper
rings again, so a retry lost with the broker is never lost for good."""

from __future__ import annotations

import logging
import time
from collections import Counter

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from webhooks.processing import event_process, events_requeue_stale
from webhooks.retention import webhook_bodies_prune

logger = logging.getLogger(__name__)
# A batch stops after this long and rings again for the rest, far inside the task's time limit
# even when its events must ask a slow PSP.
BATCH_SECONDS = 20
BATCH_SIZE = 50


@shared_task
def process_event(event_pk: int) -> str:
    """One event (the messages of earlier versions, still in a queue at an upgrade)."""
    return event_process(event_pk=event_pk)


@shared_task
def process_events(event_pks: list[int]) -> dict[str, int]:
    """Each event in its own transaction: one that fails (recorded `failed`, and retried by the
    sweeper when its `retry_at` is due) does not hold back the others."""
    deadline = time.monotonic() + BATCH_SECONDS
    outcomes: Counter[str] = Counter()
    for number, event_pk in enumerate(event_pks):
        if time.monotonic() > deadline:
            process_events.delay(event_pks[number:])
            break
        try:
            outcomes[event_process(event_pk=event_pk)] += 1
        except SoftTimeLimitExceeded:
            raise  # the task's time is up: the rest waits for the sweeper
        except Exception:
            logger.exception("webhook event %s failed; the sweeper tries it again", event_pk)
            outcomes["failed"] += 1
    return dict(outcomes)


@shared_task
def requeue_stale_events() -> int:
    stale = events_requeue_stale(older_than_seconds=settings.WEBHOOK_REQUEUE_AFTER)
    for start in range(0, len(stale), BATCH_SIZE):
        process_events.delay(stale[start:start + BATCH_SIZE])
    return len(stale)


@shared_task
def prune_webhook_bodies() -> int:
    return webhook_bodies_prune()
