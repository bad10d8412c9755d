"""Processing a recorded event: the event is a hint, the PSP's object is the truth.

A payment event is applied through `attempt_apply_payment_locked` (so only a higher version
counts); the payment is re-read from the PSP when the event names a payment we cannot place, or
when it jumps versions so that changes in between were missed. Refund events update the refund.

Processing is one locked read-modify-write: one transaction locks the event's row, then the
checkout and the attempt (or refund) it is about (payments/locks.py's order), applies the PSP's
object and marks the event with its outcome, so the change and "processed" commit together or
not at all (a worker killed half-way leaves the event `received`, and the sweeper rings it
again: at least once). A second worker on the same event waits on its row and finds it done.
When the PSP must be asked first (and always for Stripe, whose events carry no version), that
transaction ends before the call, holding nothing, and a second one re-locks the event to apply
the answer and mark it. A failure rolls back and is recorded (`failed`, with `retry_at`) in a
transaction of its own.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from payments.attempt_lifecycle import attempt_apply_payment_locked, attempt_sync
from payments.gateway import atomic_with_psp_calls, psp, psp_calls_held
from payments.locks import lock_attempt, lock_attempt_by_psp_payment, lock_refund
from payments.models import Checkout, PaymentAttempt, Refund
from payments.psp.parse import payment_from, refund_from
from payments.psp.stripe import event_subject
from payments.psp.types import PspNotFound, PspPayment
from payments.refunds import refund_apply_locked, refund_sync
from payments.states import AttemptStatus, RefundStatus
from payments.transitions import Cause
from webhooks.models import WebhookEvent

logger = logging.getLogger(__name__)

Outcome = WebhookEvent.Outcome
# A failed event is tried again by the sweeper after `retry_delay`, this many times in all; then
# it stays `failed` for staff (who can process it again from the mid-office).
MAX_PROCESSING_ATTEMPTS = 9
MAX_RETRY_DELAY = 300
_TO_PROCESS = (Outcome.RECEIVED, Outcome.FAILED)


def event_process(*, event_pk: int) -> str:
    """Apply one recorded event. Idempotent: an event already processed is left alone, and
    applying the same PSP object twice changes nothing the second time. The change and the
    event's outcome commit in one transaction, with the event's row locked. Raises when the PSP
    must be asked and cannot answer (the event is then `failed`, due again at its `retry_at`)."""
    try:
        return _process(event_pk)
    except Exception as exc:
        _record_failure(event_pk, exc)
        raise


@dataclass(frozen=True)
class Result:
    outcome: str
    detail: str  # why, in staff's words: above all why an event changed nothing
    checkout_id: uuid.UUID | None = None


@psp_calls_held()
def _process(event_pk: int) -> str:
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().get(pk=event_pk)
        if event.outcome not in _TO_PROCESS:
            return event.outcome
        payload = json.loads(event.body)
        cause = Cause(kind="webhook", reference=event.event_id)
        if event.provider != "stripe":
            result = (_apply_payment_locked(payment_from(payload["data"]), cause) if event.type.startswith("payment.")
                      else _apply_refund(payload["data"], cause))
            if result is not None:
                return _settle(event, result)
    # The PSP's word is needed first: asked with no transaction open and no lock held.
    if event.provider == "stripe":
        result = _reread_stripe_subject(payload, cause)
        with atomic_with_psp_calls():
            return _settle_again(event_pk, result)
    payment = payment_from(payload["data"])
    return _reread_and_apply(event_pk, payment, cause)


def _settle(event: WebhookEvent, result: Result) -> str:
    """Mark the locked event with its outcome, in the transaction of the change it made."""
    WebhookEvent.objects.filter(pk=event.pk).update(
        outcome=result.outcome, outcome_detail=result.detail[:255], error="", processed_at=timezone.now(),
        checkout_id=result.checkout_id, processing_attempts=event.processing_attempts + 1,
    )
    return result.outcome


def _settle_again(event_pk: int, result: Result) -> str:
    """`_settle`, after the event's lock was let go for a PSP call: re-locked first, and left as
    another worker marked it meanwhile (what it applied is applied, once, either way)."""
    event = WebhookEvent.objects.select_for_update().get(pk=event_pk)
    return _settle(event, result) if event.outcome in _TO_PROCESS else event.outcome


def _record_failure(event_pk: int, exc: Exception) -> None:
    """After the processing's transaction rolled back: `failed`, due again after `retry_delay`
    (never over an outcome that another worker recorded meanwhile)."""
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.select_for_update().filter(pk=event_pk, outcome__in=_TO_PROCESS).first()
            if event is None:
                return
            tries = event.processing_attempts + 1
            WebhookEvent.objects.filter(pk=event_pk).update(
                outcome=Outcome.FAILED, outcome_detail="", error=f"{type(exc).__name__}: {exc}"[:2000],
                processing_attempts=tries,
                retry_at=timezone.now() + retry_delay(tries) if tries < MAX_PROCESSING_ATTEMPTS else None,
            )
    except Exception:
        logger.exception("could not record the failure of webhook event %s", event_pk)


def _apply_payment_locked(payment: PspPayment, cause: Cause) -> Result | None:
    """Apply the event's payment object to the attempt it names, locked in the caller's
    transaction; None when the PSP must be asked first (a payment we cannot place, or versions
    missed in between)."""
    located = _lock_attempt_of(payment)
    if located is None or _missed_versions(located[1], payment):
        return None
    checkout, attempt = located
    return _applied(checkout, attempt, payment, cause)


def _reread_and_apply(event_pk: int, payment: PspPayment, cause: Cause) -> str:
    attempt_id, checkout_id = _ids_of(payment)
    context = {"cause": cause.label()}
    if attempt_id is not None:  # so that the call shows on the checkout's timeline
        context |= {"checkout_id": str(checkout_id), "attempt_id": str(attempt_id)}
    try:
        payment = psp().get_payment(payment.id, context=context)
    except PspNotFound:
        with atomic_with_psp_calls():
            return _settle_again(event_pk, Result(Outcome.IGNORED, f"the PSP does not know payment {payment.id}"))
    with atomic_with_psp_calls():
        event = WebhookEvent.objects.select_for_update().get(pk=event_pk)
        if event.outcome not in _TO_PROCESS:
            return event.outcome
        located = lock_attempt(attempt_id) if attempt_id is not None else _lock_attempt_of(payment)
        if located is None:
            logger.info("webhook %s is about payment %s, which is not ours", cause.reference, payment.id)
            return _settle(event, Result(Outcome.IGNORED, f"payment {payment.id} is not one of ours"))
        return _settle(event, _applied(*located, payment, cause))


def _applied(checkout: Checkout, attempt: PaymentAttempt, payment: PspPayment, cause: Cause) -> Result:
    before = attempt.psp_version
    applied = attempt_apply_payment_locked(checkout=checkout, attempt=attempt, payment=payment, cause=cause)
    if applied.psp_version > before:
        status = AttemptStatus(applied.status).label
        return Result(Outcome.PROCESSED, f"applied v{applied.psp_version} ({status})", checkout.id)
    # Most often the PSP's direct answer (or a poll) brought this version first.
    detail = (f"already applied (v{before})" if payment.version == before
              else f"older than what we hold (v{payment.version}, we hold v{before})")
    return Result(Outcome.IGNORED, detail, checkout.id)


def _lock_attempt_of(payment: PspPayment) -> tuple[Checkout, PaymentAttempt] | None:
    """The attempt the payment names in its metadata, else the one holding its id, locked with
    its checkout; None when neither is ours."""
    attempt_id = _uuid_or_none(payment.metadata.get("attempt_id", ""))
    if attempt_id is not None:
        try:
            return lock_attempt(attempt_id)
        except PaymentAttempt.DoesNotExist:
            pass
    return lock_attempt_by_psp_payment(payment.id)


def _ids_of(payment: PspPayment) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """The attempt (and its checkout) that the payment names or holds its id, read without a lock."""
    attempt_id = _uuid_or_none(payment.metadata.get("attempt_id", ""))
    ids = PaymentAttempt.objects.values_list("id", "checkout_id")
    found = (ids.filter(id=attempt_id).first() if attempt_id else None) or ids.filter(psp_payment_id=payment.id).first()
    return found if found else (None, None)


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text) if text else None
    except ValueError:
        return None


def _missed_versions(attempt: PaymentAttempt, payment: PspPayment) -> bool:
    # Version 0 means we never saw the payment: nothing in between can have been missed.
    return attempt.psp_version > 0 and payment.version > attempt.psp_version + 1


def _apply_refund(data: dict[str, Any], cause: Cause) -> Result:
    """Apply a refund event to the refund it names, locked in the caller's transaction."""
    answer = refund_from(data)
    refund_id = Refund.objects.filter(psp_refund_id=answer.id).values_list("id", flat=True).first()
    if refund_id is None:
        # Not one we know by id: made elsewhere, or its answer to us is still on its way (the
        # refund's own poll will learn it). The payment.refunded event carries the money.
        return Result(Outcome.IGNORED, f"refund {answer.id} is not known to us (yet)")
    checkout, attempt, refund = lock_refund(refund_id)
    before = refund.status
    applied = refund_apply_locked(checkout=checkout, attempt=attempt, refund=refund, answer=answer, cause=cause)
    if applied.status != before:
        moved = f"refund {RefundStatus(before).label} → {RefundStatus(applied.status).label}"
        return Result(Outcome.PROCESSED, moved, checkout.id)
    return Result(Outcome.IGNORED, f"already applied (refund {RefundStatus(applied.status).label})", checkout.id)


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
