"""Resolving an attempt in `needs_review`: the PSP's truth first, then staff confirm it or note why not.

Staff never choose the outcome: they can only confirm the final status that the PSP reports
right now (fetched again when they confirm, so a stale page cannot confirm an old answer), and
only when the PSP's amount and currency are ours. When the PSP cannot say, a note is all they
can add, and the attempt stays in review.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import transaction

from payments.errors import Conflict, DomainError
from payments.gateway import psp
from payments.locks import lock_attempt
from payments.models import PaymentAttempt, StaffAction
from payments.money import format_money
from payments.psp.parse import same_token
from payments.psp.types import PspError, PspPayment, PspRejected
from payments.states import FINAL_ATTEMPT_STATUSES, AttemptStatus
from payments.transitions import Cause, move_attempt

NOT_RECEIVED = "not_received_by_psp"


@dataclass(frozen=True)
class PspTruth:
    """What the PSP says of an attempt, and the status staff may confirm ("" when none)."""

    attempt: PaymentAttempt
    payment: PspPayment | None
    explanation: str
    confirmable: str


def attempt_review_truth(*, attempt_id: uuid.UUID, actor_id: int | None = None) -> PspTruth:
    """Ask the PSP about the attempt and say what it allows; changes nothing (reads only)."""
    attempt = PaymentAttempt.objects.select_related("checkout").get(id=attempt_id)
    context = {"checkout_id": str(attempt.checkout_id), "attempt_id": str(attempt.id),
               "cause": Cause(kind="staff", reference="review", actor_id=actor_id).label()}
    contradicted = attempt.psp_contradiction and attempt.status == AttemptStatus.NEEDS_REVIEW
    try:
        if contradicted and attempt.contradicting_payment_id:
            # Judge the payment that contradicted us, not the one we held: that one may be the charge.
            contradicting = psp().get_payment(attempt.contradicting_payment_id, context=context)
            foreign = _foreign(attempt, contradicting)
            if foreign:
                return PspTruth(attempt, contradicting,
                                f"{foreign}: it cannot be confirmed here; settle it with the PSP.", "")
            payment: PspPayment | None = contradicting
        elif attempt.psp_payment_id:
            payment = psp().get_payment(attempt.psp_payment_id, context=context)
        else:
            session = psp().get_session(attempt.checkout.psp_token, context=context)
            latest = session.latest_payment
            payment = latest if latest and latest.metadata.get("attempt_id") == str(attempt.id) else None
    except PspRejected as exc:
        return PspTruth(attempt, None, f"The PSP refused to say: {exc}.", "")
    except PspError as exc:
        return PspTruth(attempt, None, f"The PSP could not be reached: {exc}.", "")
    return _judge(attempt, payment)


def _foreign(attempt: PaymentAttempt, payment: PspPayment) -> str:
    """Why a contradicting payment is not this attempt's own to confirm ("" if it is)."""
    named = payment.metadata.get("attempt_id", str(attempt.id))
    if named != str(attempt.id):
        return f"The PSP's payment {payment.id} names attempt {named}"
    if payment.token and not same_token(payment.token, attempt.checkout.psp_token):
        return f"The PSP's payment {payment.id} was made on another checkout's session"
    # A failed sibling may share it: with Stripe every attempt confirms the checkout's one PaymentIntent.
    siblings = PaymentAttempt.objects.filter(psp_payment_id=payment.id).exclude(id=attempt.id)
    if siblings.exclude(status=AttemptStatus.FAILED).exists():
        return f"The PSP's payment {payment.id} is another attempt's"
    return ""


def _judge(attempt: PaymentAttempt, payment: PspPayment | None) -> PspTruth:
    if payment is None:
        return PspTruth(attempt, None, "The PSP has no payment for this attempt: nothing was charged.",
                        AttemptStatus.FAILED)
    ours = format_money(attempt.amount, attempt.currency)
    if payment.amount != attempt.amount or payment.currency != attempt.currency:
        return PspTruth(attempt, payment, f"The PSP's payment {payment.id} is for "
                        f"{format_money(payment.amount, payment.currency)}, not {ours}: "
                        "it cannot be confirmed here; settle it with the PSP.", "")
    if payment.status in FINAL_ATTEMPT_STATUSES:
        return PspTruth(attempt, payment, f"The PSP says payment {payment.id} (version {payment.version}) "
                        f"{payment.status}.", payment.status)
    return PspTruth(attempt, payment, f"The PSP still says {payment.status} (version {payment.version}).", "")


def attempt_resolve(*, attempt_id: uuid.UUID, expected_status: str, actor_id: int, note: str = "") -> StaffAction:
    """Move a `needs_review` attempt to the final status the PSP reports, as staff confirmed it.

    Asks the PSP again and refuses (Conflict) unless it still reports `expected_status`; then
    locks the checkout and attempt and moves them through the status machine, in one transaction
    with the StaffAction."""
    truth = attempt_review_truth(attempt_id=attempt_id, actor_id=actor_id)
    if not truth.confirmable or truth.confirmable != expected_status:
        raise Conflict(f"Nothing was changed. {truth.explanation}", code="psp_disagrees")
    payment = truth.payment
    reference = f"{payment.id} v{payment.version}" if payment else NOT_RECEIVED
    with transaction.atomic():
        checkout, attempt = lock_attempt(attempt_id)
        if attempt.status != AttemptStatus.NEEDS_REVIEW:
            raise Conflict(f"This attempt is no longer in review: it is {attempt.status}.", code="not_in_review")
        if payment is not None:
            if attempt.psp_payment_id and attempt.psp_payment_id != payment.id:
                # The payment we held is judged and set aside: its own later events change nothing.
                attempt.contradicting_payment_id = attempt.psp_payment_id
                attempt.psp_version = payment.version
            attempt.psp_payment_id = payment.id
            attempt.psp_version = max(attempt.psp_version, payment.version)
            attempt.refunded_amount = payment.refunded_amount
            attempt.failure_code = payment.failure_code or ""
        else:
            attempt.failure_code = NOT_RECEIVED
        attempt.next_poll_at = None
        move_attempt(checkout, attempt, expected_status,
                     Cause(kind="staff", reference=reference, actor_id=actor_id, note=note))
        return StaffAction.objects.create(
            actor_id=actor_id, action=StaffAction.Action.RESOLVE, checkout=checkout, attempt=attempt,
            outcome=f"needs_review → {expected_status} ({reference})", note=note,
        )


def attempt_review_note(*, attempt_id: uuid.UUID, note: str, actor_id: int) -> StaffAction:
    """Record why an attempt stays in review when the PSP cannot settle it. The note is required,
    and refused while the PSP reports an outcome that staff should confirm instead."""
    if not note.strip():
        raise DomainError("Write what you found and what happens next.", code="invalid_request",
                       fields={"note": ["Required."]})
    truth = attempt_review_truth(attempt_id=attempt_id, actor_id=actor_id)
    if truth.confirmable:
        raise Conflict(f"The PSP now reports an outcome; confirm it instead. {truth.explanation}",
                       code="psp_has_answer")
    with transaction.atomic():
        checkout, attempt = lock_attempt(attempt_id)
        if attempt.status != AttemptStatus.NEEDS_REVIEW:
            raise Conflict(f"This attempt is no longer in review: it is {attempt.status}.", code="not_in_review")
        attempt.review_note = f"{attempt.review_note}\n{note.strip()}".strip()
        attempt.save(update_fields=["review_note", "updated_at"])
        return StaffAction.objects.create(
            actor_id=actor_id, action=StaffAction.Action.REVIEW_NOTE, checkout=checkout, attempt=attempt,
            outcome=truth.explanation[:255], note=note.strip(),
        )
