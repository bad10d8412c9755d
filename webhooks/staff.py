"""Staff processing a stored webhook event again, from the mid-office."""

from __future__ import annotations

import logging
import uuid

from payments.models import PaymentAttempt, Refund, StaffAction
from paysite.api_errors import Conflict
from webhooks.models import WebhookEvent
from webhooks.processing import event_process

logger = logging.getLogger(__name__)


def event_reprocess(*, event_pk: int, actor_id: int) -> StaffAction:
    """Process a failed event once more, now, and record who did it and what came of it.

    Safe to repeat and to race with the event's own retries: processing is idempotent (a PSP
    object is applied only if its version is new). A failure is recorded, never raised."""
    event = WebhookEvent.objects.get(pk=event_pk)
    if event.outcome != WebhookEvent.Outcome.FAILED:
        raise Conflict(f"Only an event whose processing failed can be processed again; this one is {event.outcome}.",
                       code="not_failed")
    try:
        outcome = f"failed → {event_process(event_pk=event.pk)}"
    except Exception as exc:  # any failure is the outcome staff must see; event_process stored it on the event
        logger.warning("event %s failed again when staff processed it", event.event_id, exc_info=True)
        outcome = f"failed again: {type(exc).__name__}: {exc}"
    event.refresh_from_db()
    return StaffAction.objects.create(
        actor_id=actor_id, action=StaffAction.Action.REPROCESS_EVENT, webhook_event_id=event.event_id,
        checkout_id=event.checkout_id or _checkout_of(event.psp_object_id), outcome=outcome[:255],
    )


def _checkout_of(psp_object_id: str) -> uuid.UUID | None:
    """The checkout an event is about, when processing failed before it could say."""
    if not psp_object_id:
        return None
    attempt = PaymentAttempt.objects.filter(psp_payment_id=psp_object_id).values_list("checkout_id", flat=True)
    refund = Refund.objects.filter(psp_refund_id=psp_object_id).values_list("checkout_id", flat=True)
    return attempt.first() or refund.first()
