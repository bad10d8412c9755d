"""Processing a recorded event: the event is a hint, the PSP's object is the truth.

A payment event is applied through `attempt_apply_payment` (so only a higher version counts);
the payment is re-read from the PSP when the event names a payment we cannot place, or when it
jumps versions so that changes in between were missed. Refund events update the refund.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from payments.attempt_lifecycle import attempt_apply_payment, attempt_sync
from payments.gateway import psp
from payments.models import Checkout, PaymentAttempt, Refund
from payments.psp.parse import payment_from, refund_from
from payments.psp.stripe import event_subject
from payments.psp.types import PspNotFound, PspPayment
from payments.refunds import refund_apply, refund_sync
from payments.states import AttemptStatus, RefundStatus
from payments.transitions import Cause
from webhooks.models import WebhookEvent

logger = logging.getLogger(__name__)

Outcome = WebhookEvent.Outcome
# A failed event is tried again by the sweeper after `retry_delay`, this many times in all; then
# it stays `failed` for staff (who can process it again from the mid-office).
MAX_PROCESSING_ATTEMPTS = 9
MAX_RETRY_DELAY = 300


def event_process(*, event_pk: int) -> str:
    """Apply one recorded event. Idempotent: an event already processed is left alone, and
    applying the same PSP object twice changes nothing the second time. Raises when the PSP
    must be asked and cannot answer; the caller retries."""
    event = WebhookEvent.objects.get(pk=event_pk)
    if event.outcome not in (Outcome.RECEIVED, Outcome.FAILED):
        return event.outcome
    payload = json.loads(event.body)
    cause = Cause(kind="webhook", reference=event.event_id)
    try:
        if event.provider == "stripe":
            result = _reread_stripe_subject(payload, cause)
        elif event.type.startswith("payment."):
            result = _apply_payment(payment_from(payload["data"]), cause)
        else:
            result = _apply_refund(payload["data"], cause)
    except Exception as exc:
        tries = event.processing_attempts + 1
        WebhookEvent.objects.filter(pk=event.pk).update(
            outcome=Outcome.FAILED, outcome_detail="", error=f"{type(exc).__name__}: {exc}"[:2000],
            processing_attempts=tries,
            retry_at=timezone.now() + retry_delay(tries) if tries < MAX_PROCESSING_ATTEMPTS else None,
        )
        raise
    WebhookEvent.objects.filter(pk=event.pk).update(
        outcome=result.outcome, outcome_detail=result.detail[:255], error="", processed_at=timezone.now(),
        checkout_id=result.checkout_id, processing_attempts=event.processing_attempts + 1,
    )
    return result.outcome


@dataclass(frozen=True)
class Result:
    outcome: str
    detail: str  # why, in staff's words: above all why an event changed nothing
    checkout_id: uuid.UUID | None = None


def _apply_payment(payment: PspPayment, cause: Cause) -> Result:
    attempt = _attempt_of(payment)
    if attempt is None or _missed_versions(attempt, payment):
        context = {"cause": cause.label()}
        if attempt is not None:  # so that the call shows on the checkout's timeline
            context |= {"checkout_id": str(attempt.checkout_id), "attempt_id": str(attempt.id)}
        try:
            payment = psp().get_payment(payment.id, context=context)
        except PspNotFound:
            return Result(Outcome.IGNORED, f"the PSP does not know payment {payment.id}")
        attempt = attempt or _attempt_of(payment)
        if attempt is None:
            logger.info("webhook %s is about payment %s, which is not ours", cause.reference, payment.id)
            return Result(Outcome.IGNORED, f"payment {payment.id} is not one of ours")
    before = attempt.psp_version
    applied = attempt_apply_payment(attempt_id=attempt.id, payment=payment, cause=cause)
    if applied.psp_version > before:
        status = AttemptStatus(applied.status).label
        return Result(Outcome.PROCESSED, f"applied v{applied.psp_version} ({status})", attempt.checkout_id)
    # Most often the PSP's direct answer (or a poll) brought this version first.
    detail = (f"already applied (v{before})" if payment.version == before
              else f"older than what we hold (v{payment.version}, we hold v{before})")
    return Result(Outcome.IGNORED, detail, attempt.checkout_id)


def _attempt_of(payment: PspPayment) -> PaymentAttempt | None:
    attempt_id = payment.metadata.get("attempt_id", "")
    try:
        by_metadata = PaymentAttempt.objects.filter(id=uuid.UUID(attempt_id)).first() if attempt_id else None
    except ValueError:
        by_metadata = None
    return by_metadata or PaymentAttempt.objects.filter(psp_payment_id=payment.id).first()


def _missed_versions(attempt: PaymentAttempt, payment: PspPayment) -> bool:
    # Version 0 means we never saw the payment: nothing in between can have been missed.
    return attempt.psp_version > 0 and payment.version > attempt.psp_version + 1


def _apply_refund(data: dict[str, object], cause: Cause) -> Result:
    answer = refund_from(data)
    refund = Refund.objects.filter(psp_refund_id=answer.id).first()
    if refund is None:
        # Not one we know by id: made elsewhere, or its answer to us is still on its way (the
        # refund's own poll will learn it). The payment.refunded event carries the money.
        return Result(Outcome.IGNORED, f"refund {answer.id} is not known to us (yet)")
    before = refund.status
    applied = refund_apply(refund_id=refund.id, answer=answer, cause=cause)
    if applied.status != before:
        moved = f"refund {RefundStatus(before).label} → {RefundStatus(applied.status).label}"
        return Result(Outcome.PROCESSED, moved, refund.checkout_id)
    return Result(Outcome.IGNORED, f"already applied (refund {RefundStatus(applied.status).label})", refund.checkout_id)


def _reread_stripe_subject(payload: dict[str, object], cause: Cause) -> Result:
    """A Stripe event only says which object to read again (its copy may be older than what we
    hold, and carries no version): the refund it names, and the checkout's latest attempt, are
    synced from Stripe's current objects through the one status machine."""
    intent_id, refund_id = event_subject(payload)
    changes = []
    refund = Refund.objects.filter(psp_refund_id=refund_id).first() if refund_id else None
    if refund is not None:
        before = refund.status
        after = refund_sync(refund_id=refund.id, cause=cause).status
        if after != before:
            changes.append(f"refund {RefundStatus(before).label} → {RefundStatus(after).label}")
    checkout = Checkout.objects.filter(psp_token=intent_id).first() if intent_id else None
    if checkout is None:
        if refund is not None:
            return Result(Outcome.PROCESSED if changes else Outcome.IGNORED, "; ".join(changes) or "already applied",
                          refund.checkout_id)
        logger.info("Stripe event %s is about %s, which is not ours", cause.reference, intent_id or "no payment")
        return Result(Outcome.IGNORED, f"{intent_id or 'its object'} is not one of ours")
    attempt = checkout.attempts.order_by("-created_at").first()
    if attempt is None:
        return Result(Outcome.IGNORED, "no payment attempt yet", checkout.id)
    before = attempt.status
    after = attempt_sync(attempt_id=attempt.id, cause=cause).status
    if after != before:
        changes.append(f"{AttemptStatus(before).label} → {AttemptStatus(after).label}")
    if changes:
        return Result(Outcome.PROCESSED, "; ".join(changes), checkout.id)
    return Result(Outcome.IGNORED, f"Stripe's current object changes nothing (still {AttemptStatus(after).label})",
                  checkout.id)


def retry_delay(tries: int) -> timedelta:
    """After a failed try: 5 s, 10 s, 20 s … up to 5 minutes."""
    return timedelta(seconds=min(MAX_RETRY_DELAY, 5 * 2 ** (tries - 1)))


def events_requeue_stale(*, older_than_seconds: float, limit: int = 500) -> list[int]:
    """Events whose processing was lost: still `received` long after arriving (a worker killed
    before it acknowledged, a broker restart), or `failed` with their retry due (the retry's
    message lost too). Each is rung again at most once per `older_than_seconds`, so a healthy
    backlog is not enqueued again and again. Returns their ids for the caller to enqueue."""
    now = timezone.now()
    lost = Q(outcome=Outcome.RECEIVED, received_at__lt=now - timedelta(seconds=older_than_seconds)) & (
        Q(retry_at__isnull=True) | Q(retry_at__lte=now)
    )
    retry_due = Q(outcome=Outcome.FAILED, retry_at__lte=now)
    with transaction.atomic():
        due = list(
            WebhookEvent.objects.select_for_update(skip_locked=True).filter(lost | retry_due)
            .order_by("received_at").values_list("pk", flat=True)[:limit]
        )
        WebhookEvent.objects.filter(pk__in=due).update(retry_at=now + timedelta(seconds=older_than_seconds))
    return due
