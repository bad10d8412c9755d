"""Row locks, always taken in one order: checkout, then attempt, then refund.

Every writer of a payment's state locks through here, so two writers can never wait on each
other in opposite orders. Callers hold the lock only inside `transaction.atomic()` and never
across a call to the PSP. (A webhook event's processing locks its event row before all of these,
webhooks/processing.py; nothing locks an event after a checkout. A storefront's row, for its
events' positions, is taken after all of these, last in its transaction: payments/outbox.py. The
poller's claim locks due attempts or refunds, then their poll claims, and nothing else:
payments/polling.py.)

An attempt is locked with one more fact, read in the same statement: whether it is its checkout's
latest (`known_latest`), which decides whether the checkout follows it. No attempt can be added
while the checkout is locked (Buy Now locks it first), so the answer holds to the commit.
"""

from __future__ import annotations

import uuid

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from payments.models import Checkout, PaymentAttempt, Refund
from payments.states import AttemptStatus

_LATEST = "is_latest_of_checkout"  # set on an attempt by its lock, read by `known_latest`


def lock_checkout(checkout_id: uuid.UUID | str) -> Checkout:
    return Checkout.objects.select_for_update().get(id=checkout_id)


def lock_attempt(attempt_id: uuid.UUID | str) -> tuple[Checkout, PaymentAttempt]:
    """The attempt's checkout, then the attempt, locked: two statements (the checkout's id is read
    by a subquery of the first). Raises PaymentAttempt.DoesNotExist for an unknown attempt."""
    try:
        checkout = Checkout.objects.select_for_update().get(
            id=Subquery(PaymentAttempt.objects.filter(id=attempt_id).values("checkout_id")))
    except Checkout.DoesNotExist:
        raise PaymentAttempt.DoesNotExist(f"No attempt {attempt_id}.") from None
    return checkout, _lock_attempt_of(checkout, attempt_id)


def lock_attempt_by_psp_payment(psp_payment_id: str) -> tuple[Checkout, PaymentAttempt] | None:
    """As `lock_attempt`, for the attempt that holds this PSP payment id (None if none does; the
    latest, if several attempts of one checkout share it)."""
    holders = PaymentAttempt.objects.filter(psp_payment_id=psp_payment_id).order_by("-created_at")
    checkout = Checkout.objects.select_for_update().filter(id=Subquery(holders.values("checkout_id")[:1])).first()
    if checkout is None:
        return None
    attempt = _locked_attempts(checkout).filter(psp_payment_id=psp_payment_id).order_by("-created_at").first()
    if attempt is None:
        return None
    attempt.checkout = checkout
    return checkout, attempt


def known_latest(attempt: PaymentAttempt) -> bool | None:
    """Whether the attempt is its checkout's latest, as its lock read it; None when not read."""
    value = getattr(attempt, _LATEST, None)
    return None if value is None else bool(value)


def mark_latest(attempt: PaymentAttempt) -> None:
    """For an attempt just made under its checkout's lock: it is the latest."""
    setattr(attempt, _LATEST, True)


def _locked_attempts(checkout: Checkout) -> QuerySet[PaymentAttempt]:
    newer = PaymentAttempt.objects.filter(checkout_id=OuterRef("checkout_id"), created_at__gt=OuterRef("created_at"))
    return PaymentAttempt.objects.select_for_update().filter(checkout_id=checkout.id).annotate(
        **{_LATEST: ~Exists(newer)})


def _lock_attempt_of(checkout: Checkout, attempt_id: uuid.UUID | str | Subquery) -> PaymentAttempt:
    attempt = _locked_attempts(checkout).get(Q(id=attempt_id))
    attempt.checkout = checkout  # the locked row, fresher than any other copy: no second read
    return attempt


def lock_paid_attempt(checkout: Checkout) -> PaymentAttempt | None:
    """The checkout's succeeded attempt, locked (None if nothing is paid). The checkout must be
    locked first (`lock_checkout`), as the order above says."""
    return checkout.attempts.select_for_update().filter(status=AttemptStatus.SUCCEEDED).first()


def lock_refund(refund_id: uuid.UUID | str) -> tuple[Checkout, PaymentAttempt, Refund]:
    try:
        checkout = Checkout.objects.select_for_update().get(
            id=Subquery(Refund.objects.filter(id=refund_id).values("checkout_id")))
    except Checkout.DoesNotExist:
        raise Refund.DoesNotExist(f"No refund {refund_id}.") from None
    attempt = _lock_attempt_of(checkout, Subquery(Refund.objects.filter(id=refund_id).values("attempt_id")))
    refund = Refund.objects.select_for_update().get(id=refund_id)
    refund.checkout, refund.attempt = checkout, attempt
    return checkout, attempt, refund

