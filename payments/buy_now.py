"""Buy Now: record the attempt, then ask the PSP to charge, and never charge twice."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from payments import schedule
from payments.attempt_lifecycle import attempt_send
from payments.errors import Conflict, DomainError, Forbidden, NotFound
from payments.gateway import psp_accepts
from payments.locks import lock_checkout, mark_latest
from payments.models import Checkout, PaymentAttempt
from payments.selectors import checkout_expired
from payments.states import LIVE_ATTEMPT_STATUSES, AttemptStatus, CheckoutStatus
from payments.transitions import Cause, follow_attempt, record_creation


@dataclass(frozen=True)
class BuyNowResult:
    attempt: PaymentAttempt
    created: bool  # False: the checkout's existing attempt answered, nothing was charged


def attempt_buy_now(*, checkout_id: uuid.UUID, token: str, payment_method: str, cause: Cause) -> BuyNowResult:
    """Pay a checkout with one payment method.

    While the checkout has a live or succeeded attempt, that attempt is the answer and nothing
    is sent to the PSP: a double click, a second tab or a retried request charges once. The new
    attempt is committed as `started` before the PSP is called, and the call runs outside any
    transaction, with no lock held. If the answer is lost the attempt stays `started` until a
    poll or the result page learns the truth from the PSP.
    """
    if not psp_accepts(payment_method):
        raise DomainError(
            f"Unknown payment method {payment_method!r}.", code="invalid_payment_method",
            fields={"payment_method": ["Unknown payment method."]},
        )
    attempt, created = _existing_or_new_attempt(checkout_id, token, payment_method, cause)
    if not created:
        return BuyNowResult(attempt, created=False)
    return BuyNowResult(attempt_send(attempt, cause=Cause(kind="psp_answer")), created=True)


def _existing_or_new_attempt(
    checkout_id: uuid.UUID, token: str, payment_method: str, cause: Cause
) -> tuple[PaymentAttempt, bool]:
    try:
        with transaction.atomic():
            checkout = _lock_payable_checkout(checkout_id, token)
            existing = checkout.attempts.filter(status__in=LIVE_ATTEMPT_STATUSES).first()
            if existing is not None:
                return existing, False
            attempt = PaymentAttempt(
                checkout=checkout, payment_method=payment_method, amount=checkout.amount,
                currency=checkout.currency, status=AttemptStatus.STARTED, refunded_amount=Decimal(0),
            )
            attempt.idempotency_key = f"bps-payment-{attempt.id}"
            attempt.next_poll_at = schedule.next_poll_at(AttemptStatus.STARTED, 0, timezone.now())
            attempt.save(force_insert=True)
            record_creation(checkout, cause, attempt=attempt)
            mark_latest(attempt)  # made under the checkout's lock, after every other: its latest
            follow_attempt(checkout, attempt, cause)
    except IntegrityError:
        # The partial unique index caught a second live attempt that the lock let through
        # (a database without row locks): the first one is the answer.
        live = PaymentAttempt.objects.filter(checkout_id=checkout_id, status__in=LIVE_ATTEMPT_STATUSES)
        return live.latest("created_at"), False
    return attempt, True


def _lock_payable_checkout(checkout_id: uuid.UUID, token: str) -> Checkout:
    try:
        checkout = lock_checkout(checkout_id)
    except Checkout.DoesNotExist:
        raise NotFound("No checkout has this id.") from None
    if not constant_time_compare(token, checkout.psp_token):
        raise Forbidden("This token does not belong to this checkout.", fields={"token": ["Wrong token."]})
    if checkout.status in (CheckoutStatus.REFUNDED, CheckoutStatus.PARTIALLY_REFUNDED):
        raise Conflict("This checkout was refunded; it cannot be paid again.", code="checkout_refunded")
    if checkout_expired(checkout=checkout, now=timezone.now()):
        raise Conflict("This checkout has expired.", code="checkout_expired")
    return checkout
