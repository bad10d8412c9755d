"""Recording a verified delivery (once per event id) and counting refused ones."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from webhooks.models import WebhookEvent, WebhookRefusal
from webhooks.tasks import process_event

logger = logging.getLogger(__name__)

EVENT_TYPES = frozenset({
    "payment.requires_action", "payment.pending", "payment.succeeded", "payment.failed", "payment.refunded",
    "refund.succeeded", "refund.failed",
})
_KEPT_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "user-agent")


def event_problem(event_id: str, body: bytes) -> str:
    """Why a correctly signed body is not an event of psp-api.md, or "" when it is one."""
    try:
        payload: Any = json.loads(body)
    except ValueError:
        return "the body is not JSON"
    if not isinstance(payload, dict):
        return "the body is not a JSON object"
    if payload.get("id") != event_id:
        return "the body's id differs from webhook-id"
    if payload.get("type") not in EVENT_TYPES:
        return f"unknown event type {payload.get('type')!r}"
    if not isinstance(payload.get("data"), dict) or not payload["data"].get("id"):
        return "the event has no object in data"
    return ""


def event_record(*, event_id: str, headers: Mapping[str, str], body: bytes) -> WebhookEvent | None:
    """Store a verified delivery and enqueue its processing once the row is committed.

    Returns None for an event id already recorded: a redelivery changes nothing, whatever its
    body. Safe under concurrent deliveries of one event: the unique event id lets one in.
    """
    problem = event_problem(event_id, body)
    text = body.decode("utf-8", errors="replace")
    payload = {} if problem else json.loads(body)
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(
                event_id=event_id, type=str(payload.get("type", ""))[:64],
                headers={name: headers[name] for name in _KEPT_HEADERS if name in headers}, body=text,
                outcome=WebhookEvent.Outcome.INVALID if problem else WebhookEvent.Outcome.RECEIVED,
                error=problem, psp_object_id=str(payload.get("data", {}).get("id", ""))[:128],
            )
            if not problem:
                transaction.on_commit(lambda: process_event.delay(event.pk))
    except IntegrityError:
        return None
    return event


def refusal_count(*, reason: str, remote_addr: str) -> None:
    """Count one refused delivery in this hour's row for its reason."""
    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    with transaction.atomic():
        updated = WebhookRefusal.objects.filter(hour=hour, reason=reason).update(
            count=F("count") + 1, last_seen_at=now, last_remote_addr=remote_addr[:64]
        )
        if not updated:
            try:
                with transaction.atomic():
                    WebhookRefusal.objects.create(hour=hour, reason=reason, count=1, last_seen_at=now,
                                                  last_remote_addr=remote_addr[:64])
            except IntegrityError:  # another request created this hour's row first
                WebhookRefusal.objects.filter(hour=hour, reason=reason).update(count=F("count") + 1, last_seen_at=now)
