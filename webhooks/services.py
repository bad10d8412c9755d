"""Recording a verified delivery (once per event id); what is refused is only counted."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from django.db import IntegrityError, transaction

from webhooks.doorbell import Doorbell
from webhooks.models import WebhookEvent
from webhooks.payloads import Event
from webhooks.tasks import process_events

logger = logging.getLogger(__name__)
# One per process: the recorded events' ids go to the workers in shared messages (webhooks/doorbell.py).
doorbell = Doorbell(lambda event_pks: process_events.delay(event_pks))

_KEPT_HEADERS = (
    "webhook-id", "webhook-timestamp", "webhook-signature", "stripe-signature", "content-type", "user-agent",
)


def event_record(*, event: Event, headers: Mapping[str, str], provider: str = "generic") -> WebhookEvent | None:
    """Store a verified event and ring for its processing once the row is committed.

    Returns None for an event id already recorded: a redelivery changes nothing, whatever its
    body. Safe under concurrent deliveries of one event: the unique event id lets one in.
    The body is stored with the session token masked (processing never needs it).
    """
    try:
        with transaction.atomic():
            recorded = WebhookEvent.objects.create(
                event_id=event.id, type=event.type, provider=provider,
                headers={name: headers[name] for name in _KEPT_HEADERS if name in headers},
                body=event.stored_body, psp_object_id=event.object_id,
            )
            transaction.on_commit(lambda: doorbell.ring(recorded.pk))
    except IntegrityError:
        return None
    return recorded


def event_known(*, event_id: str) -> bool:
    """Whether an event id was recorded already (a read, never a write)."""
    return WebhookEvent.objects.filter(event_id=event_id).exists()
