"""An attempt's lifecycle at the PSP: sending the charge (and re-sending it while that is safe),
asking the PSP about it, and applying what the PSP says, from whichever channel it came.

The PSP's answer to Buy Now, a webhook, a poll and staff's "ask the PSP now" all end in
`attempt_apply_payment`, so they share one rule: a payment object is applied only if its
version is higher than the highest one applied, and only through the status machine.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from datetime import timedelta

from django.utils import timezone

from payments import schedule
from payments.gateway import atomic_with_psp_calls, longest_psp_request, psp, psp_calls_held
from payments.locks import lock_attempt
from payments.models import Checkout, PaymentAttempt
from payments.money import format_money
from payments.psp.parse import redact, same_token
from payments.psp.types import PspPayment, PspProtocolError, PspRejected, PspUnavailable
from payments.states import AttemptStatus, can_move, is_final
from payments.transitions import Cause, hold_attempt_for_review, move_attempt
from paysite.site import site_url

logger = logging.getLogger(__name__)

_PSP_STATUSES = frozenset(
    {AttemptStatus.REQUIRES_ACTION, AttemptStatus.PENDING, AttemptStatus.SUCCEEDED, AttemptStatus.FAILED}
)
# A `started` attempt is sent again (with its own key) only while the shopper's click is this
# recent. It is declared not received only once no send of it can still be on its way: none
# starts after ATTEMPT_RESEND_WINDOW, and one lasts at most the PSP client's tries (`_longest_send`).
ATTEMPT_RESEND_WINDOW = timedelta(minutes=10)


def attempt_apply_payment(*, attempt_id: uuid.UUID, payment: PspPayment, cause: Cause) -> PaymentAttempt:
    """Apply the PSP's payment object to our attempt.

    Idempotent and order-proof: locks the checkout and the attempt, ignores an object whose
    version is not higher than the one stored, and sends the attempt to `needs_review` when the
    PSP's amount or currency differs from what we asked. A PSP object that contradicts a final
    status we hold, or a second payment for one attempt, is never dropped: the attempt goes to
    `needs_review` with the object on its timeline, and only staff take it out. The records of
    the PSP calls held for it (`psp_calls_held`) commit in its transaction.
    """
    with atomic_with_psp_calls():
        checkout, attempt = lock_attempt(attempt_id)
        return attempt_apply_payment_locked(checkout=checkout, attempt=attempt, payment=payment, cause=cause)


def attempt_apply_payment_locked(
    *, checkout: Checkout, attempt: PaymentAttempt, payment: PspPayment, cause: Cause
) -> PaymentAttempt:
    """`attempt_apply_payment` for a caller that holds the checkout and the attempt locked
    (`lock_attempt`) in its own transaction, to commit the change with its own writes."""
    contradiction = _contradiction(checkout, attempt, payment)
    if contradiction:
        _hold_for_review(checkout, attempt, payment, contradiction, cause)
        return attempt
    held = attempt.psp_contradiction and attempt.status == AttemptStatus.NEEDS_REVIEW
    if payment.version <= attempt.psp_version or held:
        return attempt
    target = _target_status(attempt, payment)
    attempt.psp_payment_id = payment.id
    attempt.psp_version = payment.version
    attempt.refunded_amount = max(attempt.refunded_amount, payment.refunded_amount)
    attempt.failure_code = payment.failure_code or ""
    attempt.action_url = payment.action_url or ""
    if not can_move("attempt", attempt.status, target):
        target = attempt.status  # e.g. "still pending" for an attempt in review
    _schedule_poll(attempt, target)
    move_attempt(checkout, attempt, target, cause)
    return attempt


def _contradiction(checkout: Checkout, attempt: PaymentAttempt, payment: PspPayment) -> str:
    """Why this PSP object cannot be applied to the attempt as a normal update ("" if it can)."""
    owner = payment.metadata.get("attempt_id", str(attempt.id))
    if owner != str(attempt.id):
        return f"the PSP's payment {payment.id} belongs to attempt {owner}, not to this one"
    if payment.token and not same_token(payment.token, checkout.psp_token):
        return f"the PSP's payment {payment.id} was made on another checkout's session"
    if attempt.psp_payment_id and attempt.psp_payment_id != payment.id:
        return f"the PSP holds a second payment {payment.id} for this attempt (ours is {attempt.psp_payment_id})"
    if payment.status not in _PSP_STATUSES:
        return f"the PSP's payment {payment.id} has a status we do not know: {payment.status!r}"
    newer = payment.version > attempt.psp_version
    if newer and is_final("attempt", attempt.status) and payment.status != attempt.status:
        return f"we hold {attempt.status}, the PSP's payment {payment.id} v{payment.version} says {payment.status}"
    return ""


def _hold_for_review(checkout: Checkout, attempt: PaymentAttempt, payment: PspPayment, why: str,
                     cause: Cause) -> None:
    if attempt.psp_contradiction and attempt.contradicting_payment_id == payment.id:
        return  # this payment was held (or judged by staff) already: once is enough
    logger.error("attempt %s held for review: %s", attempt.id, why)
    shown = json.dumps(redact(dataclasses.asdict(payment)), default=str, sort_keys=True)
    attempt.psp_contradiction = True
    attempt.contradicting_payment_id = payment.id
    attempt.review_note = f"{attempt.review_note}\nThe PSP contradicts us: {why}.".strip()
    attempt.next_poll_at = None
    hold_attempt_for_review(checkout, attempt, Cause(
        kind=cause.kind, reference=cause.reference, actor_id=cause.actor_id, note=f"{why}. PSP object: {shown}",
    ))


def _target_status(attempt: PaymentAttempt, payment: PspPayment) -> str:
    if payment.amount != attempt.amount or payment.currency != attempt.currency:
        attempt.review_note = (
            f"The PSP reports {payment.amount} {payment.currency} for payment {payment.id}; we asked for "
            f"{format_money(attempt.amount, attempt.currency)}. Never marked paid automatically."
        )
        return AttemptStatus.NEEDS_REVIEW
    return payment.status


def _schedule_poll(attempt: PaymentAttempt, status: str) -> None:
    if status in (AttemptStatus.REQUIRES_ACTION, AttemptStatus.PENDING, AttemptStatus.STARTED):
        attempt.next_poll_at = schedule.next_poll_at(
            status, attempt.poll_count, timezone.now(), polled_at=attempt.last_polled_at)
    else:
        attempt.next_poll_at = None


def attempt_reject(*, attempt_id: uuid.UUID, code: str, cause: Cause) -> PaymentAttempt:
    """The PSP refused to make the payment (a 4xx): nothing was charged, the attempt failed."""
    with atomic_with_psp_calls():
        checkout, attempt = lock_attempt(attempt_id)
        if attempt.status != AttemptStatus.STARTED:
            return attempt
        attempt.failure_code = code[:64]
        attempt.next_poll_at = None
        move_attempt(checkout, attempt, AttemptStatus.FAILED, cause)
    return attempt


@psp_calls_held()
def attempt_send(attempt: PaymentAttempt, *, cause: Cause) -> PaymentAttempt:
    """Send the attempt's payment request to the PSP and apply the answer.

    Sends the attempt's own Idempotency-Key, so every send of one attempt (a retry, a resend
    by the poller, another process) is one payment at most. Call it with no transaction open
    and no lock held. If the PSP cannot be reached the attempt stays `started`, to be polled.
    The call's records commit with the answer's change, or on their own when none follows.
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


@psp_calls_held()
def attempt_sync(*, attempt_id: uuid.UUID, cause: Cause) -> PaymentAttempt:
    """Ask the PSP what became of an attempt and apply the answer.

    Uses `GET /v1/payments/{id}`, or `GET /v1/sessions/{token}` when the payment id was never
    learned. The session's latest payment is applied to the attempt it belongs to, whichever
    that is (so a charge made for an older attempt is never hidden). If the session shows no
    payment for this attempt, the Buy Now request never reached the PSP: it is sent again with
    the same Idempotency-Key (so it can never charge twice) while the shopper's click is recent,
    and counts as failed only once no send of it can still be in flight.
    Raises PspUnavailable or PspProtocolError when the PSP cannot say; nothing changes then.
    The records of its PSP calls commit with the change their answer makes (`psp_calls_held`).
    """
    attempt = PaymentAttempt.objects.select_related("checkout").get(id=attempt_id)
    context = {"checkout_id": str(attempt.checkout_id), "attempt_id": str(attempt.id), "cause": cause.label()}
    if attempt.psp_payment_id:
        payment = psp().get_payment(attempt.psp_payment_id, context=context)
        owner = _owner_of(payment, attempt)
        applied = attempt_apply_payment(attempt_id=owner, payment=payment, cause=cause)
        # A PSP whose payment is the session itself (Stripe: the PaymentIntent) shows a newer
        # attempt's confirmation once there is one: that attempt gets it, this one is as it was.
        return applied if owner == attempt.id else PaymentAttempt.objects.get(id=attempt.id)
    try:
        session = psp().get_session(attempt.checkout.psp_token, context=context)
    except PspRejected:
        session = None
    latest = session.latest_payment if session else None
    if latest is not None:
        owner = _owner_of(latest, attempt)
        applied = attempt_apply_payment(attempt_id=owner, payment=latest, cause=cause)
        if owner == attempt.id:
            return applied
    if attempt.status != AttemptStatus.STARTED:
        return attempt
    age = timezone.now() - attempt.created_at
    if age < ATTEMPT_RESEND_WINDOW:
        return attempt_send(attempt, cause=cause)
    if age < ATTEMPT_RESEND_WINDOW + _longest_send():
        return attempt  # a resend started just inside the window may still reach the PSP
    return attempt_reject(attempt_id=attempt.id, code="not_received_by_psp", cause=cause)


def _owner_of(payment: PspPayment, asked_for: PaymentAttempt) -> uuid.UUID:
    """The attempt of this checkout that the payment names; the one asked about when it names
    none of them (then the contradiction is held on that attempt for staff to see)."""
    named = payment.metadata.get("attempt_id", "")
    sibling = (
        PaymentAttempt.objects.filter(checkout_id=asked_for.checkout_id, id=named).values_list("id", flat=True).first()
        if _is_uuid(named) else None
    )
    return sibling or asked_for.id


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _longest_send() -> timedelta:
    """How long one send can take at most (`longest_psp_request`), and as much again for a
    process that stalled between deciding to send and sending."""
    return 2 * longest_psp_request()
