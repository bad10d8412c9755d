"""Stored webhook bodies are kept as long as the record of our PSP calls, then cleared.

A body (stored with the session token masked, but still the PSP's whole object) is emptied
PSP_CALL_RETENTION_DAYS after it arrived, once its event is settled (processed, ignored or
invalid). The row stays: its event id (the dedupe key), type, outcome, error, PSP object id and
checkout are what the timeline and the mid-office show. Events still `received` or `failed`
keep their body, since processing them again needs it.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from webhooks.models import WebhookEvent

SETTLED = (WebhookEvent.Outcome.PROCESSED, WebhookEvent.Outcome.IGNORED, WebhookEvent.Outcome.INVALID)


def webhook_bodies_prune(*, batch: int = 10_000) -> int:
    """Empty the body and headers of settled events older than the retention, in batches so that
    no statement holds locks for long. Idempotent; returns how many were emptied."""
    cutoff = timezone.now() - timedelta(days=settings.PSP_CALL_RETENTION_DAYS)
    due = WebhookEvent.objects.filter(received_at__lt=cutoff, outcome__in=SETTLED).exclude(body="")
    total = 0
    while True:
        ids = list(due.values_list("id", flat=True)[:batch])
        if not ids:
            return total
        total += WebhookEvent.objects.filter(id__in=ids).update(body="", headers={})
