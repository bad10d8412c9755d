"""The demo shop's order book: what the shop at `/` knows of its orders.

The demo shop is a storefront like any other: it writes an order when the shopper starts a
checkout, and learns what became of it only from the signed notifications it receives
(checkout/demo_receiver.py), keeping per order the `sequence` of the newest event it applied, as
the contract tells receivers to.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from checkout.models import Checkout, DemoOrder
from checkout.services import DEMO_STOREFRONT
from payments.models import NotificationEndpoint

Status = DemoOrder.Status

# The checkout's status in an event → the order's. Back to `open` is told by checkout.payment_failed.
ORDER_STATUS = {
    "open": Status.AWAITING_PAYMENT,
    "processing": Status.PAYMENT_PENDING,
    "paid": Status.PAID,
    "partially_refunded": Status.PARTIALLY_REFUNDED,
    "refunded": Status.REFUNDED,
    "expired": Status.EXPIRED,
}
# Orders whose outcome may still change by itself, and how long the shop's page waits for one
# (an order left unpaid ends as `expired` only when its checkout does, a day later).
UNSETTLED = frozenset({Status.AWAITING_PAYMENT, Status.PAYMENT_PENDING, Status.PAYMENT_FAILED})
AWAITED_FOR = timedelta(hours=1)


def demo_order_create(*, checkout: Checkout) -> DemoOrder:
    """The shop's order for a checkout it has just started, awaiting payment. Idempotent."""
    return DemoOrder.objects.get_or_create(
        checkout_id=checkout.id, defaults={"reference": checkout.reference, "description": checkout.description},
    )[0]


def demo_order_notified(*, event: Mapping[str, Any], now: datetime) -> bool:
    """Apply one verified storefront event to its order; returns whether the order changed.

    An event at or below the order's last applied `sequence` (a repeat: delivery is at least once;
    or an older event arriving late) changes nothing, and neither does one for a checkout the shop
    did not start or one that reports no checkout (`test.ping`). Compare-and-set on the sequence,
    no lock: of two deliveries racing for one order, the higher sequence is what remains.
    """
    data = event.get("data")
    sequence = event.get("sequence")
    if not isinstance(data, Mapping) or not isinstance(sequence, int) or sequence <= 0:
        return False
    status = _order_status(str(event.get("type", "")), data.get("status"))
    try:
        checkout_id = uuid.UUID(str(data.get("id")))
    except ValueError:
        return False
    if status is None:
        return False
    changed = DemoOrder.objects.filter(checkout_id=checkout_id, last_sequence__lt=sequence).update(
        status=status, last_sequence=sequence, notified_at=now,
    )
    return changed == 1


def _order_status(event_type: str, checkout_status: object) -> Status | None:
    if event_type == "checkout.payment_failed":
        return Status.PAYMENT_FAILED
    if not event_type.startswith(("checkout.", "refund.")):
        return None
    # Refund events carry the checkout too: its status then is the order's.
    return ORDER_STATUS.get(str(checkout_status))


def demo_orders_listed(*, checkout_ids: Sequence[str]) -> list[DemoOrder]:
    """The shop's orders of these checkouts (a shopper's, from their session), newest first."""
    ids = []
    for value in checkout_ids:
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            continue
    return list(DemoOrder.objects.filter(checkout_id__in=ids).order_by("-created_at"))


def demo_orders_awaited(orders: Iterable[DemoOrder], *, now: datetime) -> bool:
    """Whether one of these orders is recent and unsettled: news of it may come any moment."""
    return any(order.status in UNSETTLED and now - order.created_at < AWAITED_FOR for order in orders)


def demo_notification_secret() -> str | None:
    """The secret the demo shop verifies its notifications with, or None if it has no endpoint.

    A real shop keeps the secret `manage.py storefront_webhook` printed in its own configuration;
    the demo shop shares the BPS's database, so it reads its storefront's endpoint instead
    (`demo_setup` made it). During a rotation the new secret verifies: every delivery carries a
    signature with it."""
    endpoint = NotificationEndpoint.objects.filter(storefront__name=DEMO_STOREFRONT).only("secret").first()
    return endpoint.secret if endpoint else None
