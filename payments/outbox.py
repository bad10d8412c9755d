"""The outbox of storefront notifications: which changes make which event, and writing it.

Called only by the status writer (payments/transitions.py), inside the transaction that changes
the status and under the checkout's lock: the event commits with the change or not at all, and
its `sequence` (the checkout's next) can never be taken twice.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from payments.documents import api_time, checkout_document, refund_document
from payments.models import Checkout, NotificationEndpoint, Refund, Storefront, StorefrontEvent
from payments.states import CheckoutStatus, RefundStatus

# A checkout's new status → its event. Back to `open` means the live attempt failed.
CHECKOUT_EVENTS = {
    CheckoutStatus.PROCESSING: "checkout.processing",
    CheckoutStatus.PAID: "checkout.paid",
    CheckoutStatus.OPEN: "checkout.payment_failed",
    CheckoutStatus.PARTIALLY_REFUNDED: "checkout.partially_refunded",
    CheckoutStatus.REFUNDED: "checkout.refunded",
    CheckoutStatus.EXPIRED: "checkout.expired",
}
REFUND_EVENTS = {RefundStatus.SUCCEEDED: "refund.succeeded", RefundStatus.FAILED: "refund.failed"}
EVENT_TYPES = (*CHECKOUT_EVENTS.values(), *REFUND_EVENTS.values())


def outbox_checkout_moved(checkout: Checkout, new_status: str) -> StorefrontEvent | None:
    """The event for a checkout that just moved to `new_status` (none for a move we do not report)."""
    event_type = CHECKOUT_EVENTS.get(CheckoutStatus(new_status))
    return _add(checkout, event_type, {}) if event_type else None


def outbox_refund_ended(checkout: Checkout, refund: Refund) -> StorefrontEvent | None:
    """The event for a refund that just reached a final status."""
    event_type = REFUND_EVENTS.get(RefundStatus(refund.status))
    return _add(checkout, event_type, {"refund": refund_document(refund)}) if event_type else None


def _add(checkout: Checkout, event_type: str, extra: dict[str, Any]) -> StorefrontEvent:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("A storefront event is written only inside the transaction of its change.")
    checkout.event_sequence += 1
    Checkout.objects.filter(id=checkout.id).update(event_sequence=checkout.event_sequence)
    position = next_position(checkout.storefront_id)
    public_id = f"evt_{uuid.uuid4().hex}"
    now = timezone.now()
    body = {
        "id": public_id, "type": event_type, "created_at": api_time(now), "sequence": checkout.event_sequence,
        "data": checkout_document(checkout) | extra,
    }
    has_endpoint = NotificationEndpoint.objects.filter(storefront_id=checkout.storefront_id).exists()
    return StorefrontEvent.objects.create(
        public_id=public_id, storefront_id=checkout.storefront_id, checkout=checkout, type=event_type,
        sequence=checkout.event_sequence, position=position, body=body, created_at=now,
        delivery=StorefrontEvent.Delivery.PENDING if has_endpoint else StorefrontEvent.Delivery.NO_ENDPOINT,
        next_attempt_at=now if has_endpoint else None,
    )


def next_position(storefront_id: int) -> int:
    """The storefront's next event position. The row stays locked until the caller's transaction
    ends, so positions commit in the order they are taken (one short wait per event of a storefront)."""
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(  # the table's name is our own, not input
            f"UPDATE {Storefront._meta.db_table} SET event_position = event_position + 1 WHERE id = %s "  # noqa: S608
            "RETURNING event_position", [storefront_id],
        )
        return int(cursor.fetchone()[0])
