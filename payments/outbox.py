"""The outbox of storefront notifications: which changes make which event, and writing it.

Called only by the status writer (payments/transitions.py), inside the transaction that changes
the status and under the checkout's lock: the event commits with the change or not at all, and
its `sequence` (the checkout's next) can never be taken twice.

What an event costs: a checkout's move takes its `sequence` in the UPDATE that saves its new status
(`checkout_event_sequence_taken`), the storefront's position and whether it has an endpoint come
back from one `UPDATE … RETURNING`, and the event is one INSERT. The position's row lock is held
to the end of the transaction, so the status writer writes the event last, after the change's
other rows: the shorter that wait, the less one storefront's changes queue behind each other.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from payments.documents import api_time, checkout_document, refund_document
from payments.models import Checkout, NotificationEndpoint, PaymentAttempt, Refund, Storefront, StorefrontEvent
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


def checkout_event_type(new_status: str) -> str | None:
    """The event type of a checkout's move to `new_status`; None for a move we do not report."""
    return CHECKOUT_EVENTS.get(CheckoutStatus(new_status))


def checkout_event_sequence_taken(checkout: Checkout, new_status: str) -> bool:
    """Before the status writer saves a checkout's move: take the checkout's next event sequence
    (in memory) when the move is reported, so that the one UPDATE of the move saves it with the
    status. True when it was taken; then `outbox_checkout_moved` must follow in that transaction."""
    if checkout_event_type(new_status) is None:
        return False
    checkout.event_sequence += 1
    return True


def outbox_checkout_moved(checkout: Checkout, new_status: str, *,
                          latest: PaymentAttempt | None = None) -> StorefrontEvent | None:
    """The event for a checkout that just moved to `new_status` (none for a move we do not report),
    under the sequence that `checkout_event_sequence_taken` took and the move's save stored.
    `latest` is the checkout's latest attempt when the caller holds it (the event's `payment`)."""
    event_type = checkout_event_type(new_status)
    return _add(checkout, event_type, {}, latest=latest) if event_type else None


def outbox_refund_ended(checkout: Checkout, refund: Refund) -> StorefrontEvent | None:
    """The event for a refund that just reached a final status (it takes its own sequence: the
    checkout is not always saved by a refund's change)."""
    event_type = REFUND_EVENTS.get(RefundStatus(refund.status))
    if event_type is None:
        return None
    _require_transaction()
    checkout.event_sequence += 1
    Checkout.objects.filter(id=checkout.id).update(event_sequence=checkout.event_sequence)
    return _add(checkout, event_type, {"refund": refund_document(refund)})


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("A storefront event is written only inside the transaction of its change.")


def _add(checkout: Checkout, event_type: str, extra: dict[str, Any], *,
         latest: PaymentAttempt | None = None) -> StorefrontEvent:
    _require_transaction()
    public_id = f"evt_{uuid.uuid4().hex}"
    now = timezone.now()
    body = {
        "id": public_id, "type": event_type, "created_at": api_time(now), "sequence": checkout.event_sequence,
        "data": checkout_document(checkout, latest=latest) | extra,
    }
    # Last before the INSERT: the storefront's row stays locked from here to the commit.
    position, has_endpoint = _next_position_and_endpoint(checkout.storefront_id)
    return StorefrontEvent.objects.create(
        public_id=public_id, storefront_id=checkout.storefront_id, checkout=checkout, type=event_type,
        sequence=checkout.event_sequence, position=position, body=body, created_at=now,
        delivery=StorefrontEvent.Delivery.PENDING if has_endpoint else StorefrontEvent.Delivery.NO_ENDPOINT,
        next_attempt_at=now if has_endpoint else None,
    )


def next_position(storefront_id: int) -> int:
    """The storefront's next event position. The row stays locked until the caller's transaction
    ends, so positions commit in the order they are taken (one short wait per event of a storefront)."""
    return _next_position_and_endpoint(storefront_id)[0]


def _next_position_and_endpoint(storefront_id: int) -> tuple[int, bool]:
    """`next_position`, and whether the storefront has a notification endpoint, read in the same
    statement (an event without one is `no_endpoint`: listed by the API, never delivered), so the
    check costs no round trip of its own; it sees what a SELECT in its place would have seen."""
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(  # the tables' names are our own, not input
            f"UPDATE {Storefront._meta.db_table} SET event_position = event_position + 1 WHERE id = %s "  # noqa: S608
            f"RETURNING event_position, EXISTS (SELECT 1 FROM {NotificationEndpoint._meta.db_table} "
            "WHERE storefront_id = %s)", [storefront_id, storefront_id],
        )
        position, has_endpoint = cursor.fetchone()
        return int(position), bool(has_endpoint)
