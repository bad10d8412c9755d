"""Row locks, always taken in one order: checkout, then attempt, then refund.

Every writer of a payment's state locks through here, so two writers can never wait on each
other in opposite orders. Callers hold the lock only inside `transaction.atomic()` and never
across a call to the PSP.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from payments.models import Checkout, PaymentAttempt, Refund
from payments.states import AttemptStatus


def lock_checkout(checkout_id: uuid.UUID | str) -> Checkout:
    return Checkout.objects.select_for_update().get(id=checkout_id)


def lock_attempt(attempt_id: uuid.UUID | str) -> tuple[Checkout, PaymentAttempt]:
    checkout_id = PaymentAttempt.objects.values_list("checkout_id", flat=True).get(id=attempt_id)
    checkout = lock_checkout(checkout_id)
    return checkout, PaymentAttempt.objects.select_for_update().get(id=attempt_id)


def lock_paid_attempt(checkout: Checkout) -> PaymentAttempt | None:
    """The checkout's succeeded attempt, locked (None if nothing is paid). The checkout must be
    locked first (`lock_checkout`), as the order above says."""
    return checkout.attempts.select_for_update().filter(status=AttemptStatus.SUCCEEDED).first()


def lock_refund(refund_id: uuid.UUID | str) -> tuple[Checkout, PaymentAttempt, Refund]:
    checkout_id, attempt_id = Refund.objects.values_list("checkout_id", "attempt_id").get(id=refund_id)
    checkout = lock_checkout(checkout_id)
    attempt = PaymentAttempt.objects.select_for_update().get(id=attempt_id)
    return checkout, attempt, Refund.objects.select_for_update().get(id=refund_id)


def lock_due_for_poll(
    model: type[PaymentAttempt] | type[Refund], *, statuses: frozenset[str], now: datetime, limit: int
) -> list[tuple[uuid.UUID, int]]:
    """The due rows no other poller holds (SKIP LOCKED), oldest due first, locked until the
    caller's transaction ends; their ids and current claim numbers. Takes no checkout lock: a
    claim only moves `next_poll_at` and `poll_claim`, never a status."""
    return list(
        model.objects.select_for_update(skip_locked=True)
        .filter(next_poll_at__lte=now, status__in=statuses)
        .order_by("next_poll_at").values_list("id", "poll_claim")[:limit]
    )
