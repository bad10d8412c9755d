"""Refunds: recorded before the PSP is asked, applied through the status machine."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from payments import schedule
from payments.errors import Conflict, DomainError, NotFound
from payments.gateway import atomic_with_psp_calls, psp, psp_calls_held
from payments.locks import lock_checkout, lock_paid_attempt, lock_refund
from payments.models import Checkout, PaymentAttempt, Refund
from payments.money import format_money, has_currency_digits
from payments.psp.types import PspProtocolError, PspRefund, PspRejected, PspUnavailable
from payments.states import RefundStatus, can_move, is_final
from payments.transitions import Cause, move_attempt, move_refund, record_creation, report_refund

logger = logging.getLogger(__name__)

# A refund the PSP may never have received is sent again with its own key by the poller for
# REFUND_RESEND_WINDOW, then goes to review. Staff may still have it resent (ask the PSP) for as long as
# the PSP remembers its key (24 h, less a margin): a resend can never make a second refund.
REFUND_RESEND_WINDOW = timedelta(hours=1)
PSP_KEY_MEMORY = timedelta(hours=23)


def refund_create(
    *, checkout_id: uuid.UUID, amount: Decimal, reason: str, cause: Cause, requested_by_id: int | None = None,
    refund_id: uuid.UUID | None = None,
) -> Refund:
    """Refund part or all of a checkout's succeeded payment.

    Locks the checkout, so two refunds racing for the same money are taken one after the
    other and their sum can never pass the amount paid. The refund is committed as `started`
    before the PSP is called (outside the transaction), with a key derived from its id.
    Resumable: given the `refund_id` of an earlier try (the storefront's Idempotency-Key decides
    it), that refund is the answer, sent again with its own key if the PSP never answered it, so
    a retry after a crash or a timeout can never refund twice.
    """
    with transaction.atomic(durable=True):
        try:
            checkout = lock_checkout(checkout_id)
        except Checkout.DoesNotExist:
            raise NotFound("No checkout has this id.") from None
        refund = Refund.objects.filter(id=refund_id).first() if refund_id else None
        if refund is not None and refund.checkout_id != checkout.id:
            raise Conflict("This refund id belongs to another checkout.", code="refund_id_taken")
        if refund is None:
            refund = refund_record(checkout=checkout, amount=amount, reason=reason, cause=cause,
                                   requested_by_id=requested_by_id, refund_id=refund_id)
    unanswered = refund.status == RefundStatus.STARTED and not refund.psp_refund_id
    if unanswered and timezone.now() - refund.created_at < PSP_KEY_MEMORY:
        return refund_send(refund, cause=Cause(kind="psp_answer"))
    return refund  # answered, or too old to resend safely (the PSP forgets keys): polls and staff settle it


def refund_record(
    *, checkout: Checkout, amount: Decimal, reason: str, cause: Cause, requested_by_id: int | None = None,
    refund_id: uuid.UUID | None = None,
) -> Refund:
    """Store a `started` refund of the checkout's succeeded payment, checked against what is left.

    Expects the checkout locked (`lock_checkout`) inside the caller's transaction; sends nothing.
    `refund_id` lets a caller choose the id (the mid-office's one-time form key)."""
    attempt = lock_paid_attempt(checkout)
    if attempt is None:
        raise Conflict("This checkout has no succeeded payment to refund.", code="not_refundable")
    _check_amount(attempt, amount)
    refund = Refund(
        checkout=checkout, attempt=attempt, amount=amount, currency=attempt.currency, reason=reason[:255],
        status=RefundStatus.STARTED, requested_by_id=requested_by_id,
    )
    if refund_id is not None:
        refund.id = refund_id
    refund.idempotency_key = f"bps-refund-{refund.id}"
    refund.next_poll_at = schedule.next_poll_at(RefundStatus.STARTED, 0, timezone.now())
    refund.save(force_insert=True)
    record_creation(checkout, cause, refund=refund)
    return refund


def _check_amount(attempt: PaymentAttempt, amount: Decimal) -> None:
    if amount <= 0 or not has_currency_digits(amount, attempt.currency):
        raise DomainError(
            f"The amount must be positive with the digits of {attempt.currency}.", code="invalid_amount",
            fields={"amount": ["Invalid amount."]},
        )
    reserved = attempt.refunds.exclude(status=RefundStatus.FAILED).aggregate(total=Sum("amount"))["total"]
    # The PSP's own refunded total counts too: money it reports gone is gone, even if a refund of
    # ours for it was closed as failed or it was refunded elsewhere.
    committed = max(reserved or Decimal(0), attempt.refunded_amount)
    if committed + amount > attempt.amount:
        left = attempt.amount - committed
        raise Conflict(
            f"At most {left} {attempt.currency} is left to refund.", code="refund_exceeds_payment",
            fields={"amount": [f"At most {left} is left to refund."]},
        )


@psp_calls_held()
def refund_send(refund: Refund, *, cause: Cause) -> Refund:
    """Ask the PSP for the refund, always with the refund's own key; no lock is held. The call's
    records commit with the answer's change, or on their own when none follows."""
    try:
        answer = psp().create_refund(
            payment_id=refund.attempt.psp_payment_id or "", amount=refund.amount, currency=refund.currency,
            reason=refund.reason, idempotency_key=refund.idempotency_key,
            context={"checkout_id": str(refund.checkout_id), "attempt_id": str(refund.attempt_id),
                     "refund_id": str(refund.id), "cause": cause.label()},
        )
    except PspRejected as exc:
        return refund_reject(refund_id=refund.id, code=exc.code, cause=cause)
    except (PspUnavailable, PspProtocolError):
        logger.warning("no answer from the PSP for refund %s; it stays started", refund.id, exc_info=True)
        return refund
    return refund_apply(refund_id=refund.id, answer=answer, cause=cause)


def refund_apply(*, refund_id: uuid.UUID, answer: PspRefund, cause: Cause) -> Refund:
    """Apply the PSP's refund object. Idempotent: statuses only move forward, a final one never
    changes, and a succeeded refund raises the attempt's refunded amount (and so the checkout's
    status) in the same transaction, with the records of the PSP calls held for it."""
    with atomic_with_psp_calls():
        checkout, attempt, refund = lock_refund(refund_id)
        return refund_apply_locked(checkout=checkout, attempt=attempt, refund=refund, answer=answer, cause=cause)


def refund_apply_locked(
    *, checkout: Checkout, attempt: PaymentAttempt, refund: Refund, answer: PspRefund, cause: Cause
) -> Refund:
    """`refund_apply` for a caller that holds the checkout, the attempt and the refund locked
    (`lock_refund`) in its own transaction, to commit the change with its own writes."""
    if refund.psp_refund_id not in (None, answer.id):
        logger.error("PSP refund %s does not fit refund %s", answer.id, refund.id)
        return refund
    refund.psp_refund_id = answer.id
    target = answer.status
    if answer.amount != refund.amount or answer.currency != refund.currency:
        target = RefundStatus.NEEDS_REVIEW
    if target in RefundStatus.values and is_final("refund", refund.status) and target != refund.status:
        # The PSP contradicts a final status we hold (a refund we failed that it made): never
        # silent, and its amount is reserved again until staff settle it.
        why = f"we hold {refund.status}, the PSP's refund {answer.id} says {answer.status}"
        logger.error("refund %s held for review: %s", refund.id, why)
        refund.next_poll_at = None
        move_refund(checkout, refund, RefundStatus.NEEDS_REVIEW,
                    Cause(kind=cause.kind, reference=cause.reference, actor_id=cause.actor_id, note=why))
        return refund
    if target not in RefundStatus.values or not can_move("refund", refund.status, target):
        target = refund.status  # a status we do not know yet, or an older word: keep asking
    refund.failure_code = "refund_failed" if target == RefundStatus.FAILED else refund.failure_code
    unfinished = target in (RefundStatus.PENDING, RefundStatus.STARTED)
    refund.next_poll_at = (
        schedule.next_poll_at(target, refund.poll_count, timezone.now(), polled_at=refund.last_polled_at)
        if unfinished else None
    )
    changed = move_refund(checkout, refund, target, cause, report=False)
    if refund.status == RefundStatus.SUCCEEDED:
        _raise_refunded_amount(checkout, attempt, cause)
    if changed:
        report_refund(checkout, refund)  # after the raise: the event shows the refund counted
    return refund


def _succeeded_total(attempt: PaymentAttempt) -> Decimal:
    total = attempt.refunds.filter(status=RefundStatus.SUCCEEDED).aggregate(total=Sum("amount"))["total"]
    return total or Decimal(0)


def _raise_refunded_amount(checkout: Checkout, attempt: PaymentAttempt, cause: Cause) -> None:
    succeeded = _succeeded_total(attempt)
    if succeeded > attempt.refunded_amount:
        attempt.refunded_amount = succeeded
        move_attempt(checkout, attempt, attempt.status, cause)


def refund_reject(*, refund_id: uuid.UUID, code: str, cause: Cause) -> Refund:
    """The PSP refused the refund (a 4xx): no money moved; the refund failed."""
    with atomic_with_psp_calls():
        checkout, _attempt, refund = lock_refund(refund_id)
        if refund.status not in (RefundStatus.STARTED, RefundStatus.NEEDS_REVIEW) or refund.psp_refund_id:
            return refund
        refund.failure_code = code[:64]
        refund.next_poll_at = None
        move_refund(checkout, refund, RefundStatus.FAILED, cause)
    return refund


@psp_calls_held()
def refund_sync(*, refund_id: uuid.UUID, cause: Cause) -> Refund:
    """Ask the PSP what became of a refund. One it may never have received is sent again with
    its own key: by the poller within REFUND_RESEND_WINDOW (then it goes to review, as we cannot know),
    and from review, when staff ask, while the PSP still remembers the key."""
    refund = Refund.objects.select_related("attempt").get(id=refund_id)
    if refund.psp_refund_id:
        context = {"checkout_id": str(refund.checkout_id), "refund_id": str(refund.id), "cause": cause.label()}
        return refund_apply(refund_id=refund.id, answer=psp().get_refund(refund.psp_refund_id, context=context),
                            cause=cause)
    age = timezone.now() - refund.created_at
    if refund.status == RefundStatus.NEEDS_REVIEW and cause.kind == "staff" and age < PSP_KEY_MEMORY:
        return refund_send(refund, cause=cause)
    if refund.status != RefundStatus.STARTED:
        return refund
    if age < REFUND_RESEND_WINDOW:
        return refund_send(refund, cause=cause)
    with atomic_with_psp_calls():
        checkout, _attempt, refund = lock_refund(refund_id)
        refund.next_poll_at = None
        move_refund(checkout, refund, RefundStatus.NEEDS_REVIEW, cause)
    return refund


def refund_resolve_unsent(*, refund_id: uuid.UUID, note: str, cause: Cause) -> Refund:
    """Staff close a refund in review that the PSP never acknowledged (no PSP refund id) as
    `failed`, with a note of what they checked: its amount stops being reserved. Refused while
    the PSP still remembers the refund's key (ask the PSP instead: it resends safely) and for a
    refund the PSP knows (its word decides)."""
    if not note.strip():
        raise DomainError("Write what you checked at the PSP.", code="invalid_request", fields={"note": ["Required."]})
    with transaction.atomic():
        checkout, attempt, refund = lock_refund(refund_id)
        if refund.status != RefundStatus.NEEDS_REVIEW or refund.psp_refund_id:
            raise Conflict("Only a refund in review that the PSP never acknowledged can be closed here.",
                           code="not_resolvable")
        if attempt.refunded_amount > _succeeded_total(attempt):
            raise Conflict(
                f"The PSP's payment shows {format_money(attempt.refunded_amount, attempt.currency)} refunded, more "
                "than our succeeded refunds: this refund may be among them. Settle it with the PSP.",
                code="psp_shows_refunded",
            )
        if timezone.now() - refund.created_at < PSP_KEY_MEMORY:
            raise Conflict("The PSP still remembers this refund's key: ask the PSP, which resends it safely.",
                           code="ask_psp_first")
        refund.failure_code = "closed_by_staff"
        refund.next_poll_at = None
        move_refund(checkout, refund, RefundStatus.FAILED, cause)
    return refund
