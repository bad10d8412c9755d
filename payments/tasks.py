"""Celery tasks for payments: thin wrappers around `payments.polling`, the storefront notifications'
delivery (`payments.notifications`) and the pruning services."""

from __future__ import annotations

import math
import uuid

from celery import shared_task
from django.conf import settings

from payments.notifications import (
    delivery_time_limit,
    event_claim_next,
    event_deliver,
    events_claim_due,
)
from payments.polling import (
    attempt_poll,
    attempts_claim_due,
    poll_batch_size,
    poll_claims_prune,
    refund_poll,
    refunds_claim_due,
)
from payments.psp_calls import psp_calls_prune


@shared_task
def poll_due() -> int:
    """Run by beat every PAYMENTS_POLL_INTERVAL: claim what is due, ring one task per row."""
    attempts = attempts_claim_due(limit=poll_batch_size())
    refunds = refunds_claim_due(limit=poll_batch_size())
    for attempt_id, claim in attempts:
        poll_attempt.delay(str(attempt_id), claim)
    for refund_id, claim in refunds:
        poll_refund.delay(str(refund_id), claim)
    return len(attempts) + len(refunds)


@shared_task
def poll_attempt(attempt_id: str, claim: int) -> str:
    polled = attempt_poll(attempt_id=uuid.UUID(attempt_id), claim=claim)
    return polled.status if polled else "claimed elsewhere"


@shared_task
def poll_refund(refund_id: str, claim: int) -> str:
    polled = refund_poll(refund_id=uuid.UUID(refund_id), claim=claim)
    return polled.status if polled else "claimed elsewhere"


@shared_task
def prune_poll_claims() -> int:
    return poll_claims_prune()


@shared_task
def prune_psp_calls() -> int:
    return psp_calls_prune()


@shared_task
def deliver_due_events() -> int:
    """Run by beat every NOTIFY_SWEEP_INTERVAL: claim the due storefront events, ring one task each."""
    claims = events_claim_due(limit=settings.NOTIFY_BATCH_SIZE)
    for event_pk, claim in claims:
        deliver_event.delay(event_pk, claim)
    return len(claims)


# The soft limit cuts a delivery off soon after NOTIFY_TIMEOUT (recorded as a failed try); the hard
# one is what the claim's lease outlasts (payments/notifications.py).
@shared_task(soft_time_limit=math.ceil(settings.NOTIFY_TIMEOUT) + 2, time_limit=math.ceil(delivery_time_limit()))
def deliver_event(event_pk: int, claim: int) -> str:
    outcome = event_deliver(event_pk=event_pk, claim=claim)
    # An endpoint that answers gets its next event at once; one that fails waits for the sweep.
    following = event_claim_next(after_event_pk=event_pk) if outcome == "delivered" else None
    if following is not None:
        deliver_event.delay(*following)
    return outcome
