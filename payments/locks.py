"""Row locks, always taken in one order: checkout, then attempt, then refund.

Every writer of a payment's state locks through here, so two writers can never wait on each
other in opposite orders. Callers hold the lock only inside `transaction.atomic()` and never
across a call to the PSP.
"""

from __future__ import annotations

import uuid

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
