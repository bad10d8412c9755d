"""Applying what the PSP says about a payment, from whichever channel it came.

The PSP's answer to Buy Now, a webhook, a poll and staff's "ask the PSP now" all end in
`attempt_apply_payment`, so they share one rule: a payment object is applied only if its
version is higher than the highest one applied, and only through the status machine.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from payments import schedule
from payments.gateway import psp
from payments.locks import lock_attempt
from payments.models import PaymentAttempt
from payments.money import format_amount
from payments.psp.types import PspPayment, PspProtocolError, PspRejected, PspUnavailable
from payments.states import AttemptStatus, can_move, is_final
from payments.transitions import Cause, move_attempt
from paysite.site import site_url

logger = logging.getLogger(__name__)

_PSP_STATUSES = frozenset(
    {AttemptStatus.REQUIRES_ACTION, AttemptStatus.PENDING, AttemptStatus.SUCCEEDED, AttemptStatus.FAILED}
)
# Past this age, a `started` attempt that the PSP has never heard of was not charged: no request
# of ours can still be on its way (each try times out after PSP_TIMEOUT).
RESEND_WINDOW = timedelta(minutes=10)


def attempt_apply_payment(*, attempt_id: uuid.UUID, payment: PspPayment, cause: Cause) -> PaymentAttempt:
    """Apply the PSP's payment object to our attempt.

    Idempotent and order-proof: locks the checkout and the attempt, ignores an object whose
    version is not higher than the one stored, never changes a final status, and sends the
    attempt to `needs_review` when the PSP's amount or currency differs from what we asked.
    """
    with transaction.atomic():
        checkout, attempt = lock_attempt(attempt_id)
        if payment.version <= attempt.psp_version:
            return attempt
        if not _belongs_to(attempt, payment) or payment.status not in _PSP_STATUSES:
            logger.error("PSP object %s v%s does not fit attempt %s", payment.id, payment.version, attempt.id)
            return attempt
        target = _target_status(attempt, payment)
        attempt.psp_payment_id = payment.id
        attempt.psp_version = payment.version
        attempt.refunded_amount = payment.refunded_amount
        attempt.failure_code = payment.failure_code or ""
        attempt.action_url = payment.action_url or ""
        if is_final("attempt", attempt.status) or not can_move("attempt", attempt.status, target):
            if target != attempt.status:
                logger.warning(
                    "attempt %s stays %s; PSP v%s says %s", attempt.id, attempt.status, payment.version, target
                )
            target = attempt.status
        _schedule_poll(attempt, target)
        move_attempt(checkout, attempt, target, cause)
    return attempt


def _belongs_to(attempt: PaymentAttempt, payment: PspPayment) -> bool:
    if attempt.psp_payment_id and attempt.psp_payment_id != payment.id:
        return False
    return payment.metadata.get("attempt_id", str(attempt.id)) == str(attempt.id)


def _target_status(attempt: PaymentAttempt, payment: PspPayment) -> str:
    if payment.amount != attempt.amount or payment.currency != attempt.currency:
        attempt.review_note = (
            f"The PSP reports {payment.amount} {payment.currency} for payment {payment.id}; we asked for "
            f"{format_amount(attempt.amount, attempt.currency)} {attempt.currency}. Never marked paid automatically."
        )
        return AttemptStatus.NEEDS_REVIEW
    return payment.status


def _schedule_poll(attempt: PaymentAttempt, status: str) -> None:
    if status in (AttemptStatus.REQUIRES_ACTION, AttemptStatus.PENDING, AttemptStatus.STARTED):
        attempt.next_poll_at = schedule.next_poll_at(status, attempt.poll_count, timezone.now())
    else:
        attempt.next_poll_at = None


def attempt_reject(*, attempt_id: uuid.UUID, code: str, cause: Cause) -> PaymentAttempt:
    """The PSP refused to make the payment (a 4xx): nothing was charged, the attempt failed."""
    with transaction.atomic():
        checkout, attempt = lock_attempt(attempt_id)
        if attempt.status != AttemptStatus.STARTED:
            return attempt
        attempt.failure_code = code[:64]
        attempt.next_poll_at = None
        move_attempt(checkout, attempt, AttemptStatus.FAILED, cause)
    return attempt


def attempt_send(attempt: PaymentAttempt, *, cause: Cause) -> PaymentAttempt:
    """Send the attempt's payment request to the PSP and apply the answer.

    Sends the attempt's own Idempotency-Key, so every send of one attempt (a retry, a resend
    by the poller, another process) is one payment at most. Call it with no transaction open
    and no lock held. If the PSP cannot be reached the attempt stays `started`, to be polled.
    """
    checkout = attempt.checkout
    try:
        payment = psp().create_payment(
            token=checkout.psp_token, amount=attempt.amount, currency=attempt.currency,
            payment_method=attempt.payment_method, redirect_url=site_url("checkout-return", checkout.id),
            webhook_url=site_url("psp-webhook"),
            metadata={"attempt_id": str(attempt.id), "checkout_id": str(checkout.id)},
            idempotency_key=attempt.idempotency_key,
            context={"checkout_id": str(checkout.id), "attempt_id": str(attempt.id), "cause": cause.label()},
        )
    except PspRejected as exc:
        return attempt_reject(attempt_id=attempt.id, code=exc.code, cause=cause)
    except (PspUnavailable, PspProtocolError):
        logger.warning("no answer from the PSP for attempt %s; it stays started", attempt.id, exc_info=True)
        return attempt
    return attempt_apply_payment(attempt_id=attempt.id, payment=payment, cause=cause)


def attempt_sync(*, attempt_id: uuid.UUID, cause: Cause) -> PaymentAttempt:
    """Ask the PSP what became of an attempt and apply the answer.

    Uses `GET /v1/payments/{id}`, or `GET /v1/sessions/{token}` when the payment id was never
    learned. If the session shows no payment for this attempt, the Buy Now request never
    reached the PSP: it is sent again with the same Idempotency-Key (so it can never charge
    twice) while the shopper's click is recent, and counts as failed after that.
    Raises PspUnavailable or PspProtocolError when the PSP cannot say; nothing changes then.
    """
    attempt = PaymentAttempt.objects.select_related("checkout").get(id=attempt_id)
    context = {"checkout_id": str(attempt.checkout_id), "attempt_id": str(attempt.id), "cause": cause.label()}
    if attempt.psp_payment_id:
        payment = psp().get_payment(attempt.psp_payment_id, context=context)
        return attempt_apply_payment(attempt_id=attempt.id, payment=payment, cause=cause)
    try:
        session = psp().get_session(attempt.checkout.psp_token, context=context)
    except PspRejected:
        session = None
    latest = session.latest_payment if session else None
    if latest is not None and latest.metadata.get("attempt_id") == str(attempt.id):
        return attempt_apply_payment(attempt_id=attempt.id, payment=latest, cause=cause)
    if attempt.status != AttemptStatus.STARTED:
        return attempt
    if timezone.now() - attempt.created_at < RESEND_WINDOW:
        return attempt_send(attempt, cause=cause)
    return attempt_reject(attempt_id=attempt.id, code="not_received_by_psp", cause=cause)
