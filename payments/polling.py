"""The poller: find the attempts and refunds that are due, claim them, ask the PSP.

Claiming moves a row's `next_poll_at` forward by a lease inside one short transaction with
`SELECT … FOR UPDATE SKIP LOCKED`, so two workers (or two beats by mistake) never poll the
same row; a worker that dies mid-poll only delays that row until its lease ends.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from payments import schedule
from payments.locks import lock_attempt, lock_refund
from payments.models import PaymentAttempt, Refund
from payments.psp.types import PspError
from payments.refunds import refund_sync
from payments.states import UNFINISHED_ATTEMPT_STATUSES, UNFINISHED_REFUND_STATUSES, AttemptStatus, RefundStatus
from payments.sync import attempt_sync
from payments.transitions import Cause, move_attempt, move_refund

logger = logging.getLogger(__name__)

# Long enough for one poll with all its retries (PSP_TIMEOUT x PSP_MAX_ATTEMPTS and backoff).
LEASE = timedelta(minutes=5)


def _claim_due(model: type[PaymentAttempt] | type[Refund], statuses: frozenset[str], limit: int) -> list[uuid.UUID]:
    now = timezone.now()
    with transaction.atomic():
        due = list(
            model.objects.select_for_update(skip_locked=True)
            .filter(next_poll_at__lte=now, status__in=statuses)
            .order_by("next_poll_at").values_list("id", flat=True)[:limit]
        )
        model.objects.filter(id__in=due).update(next_poll_at=now + LEASE)
    return due


def attempts_claim_due(*, limit: int) -> list[uuid.UUID]:
    """Claim up to `limit` unfinished attempts whose poll is due; returns their ids."""
    return _claim_due(PaymentAttempt, UNFINISHED_ATTEMPT_STATUSES, limit)


def refunds_claim_due(*, limit: int) -> list[uuid.UUID]:
    """Claim up to `limit` unfinished refunds whose poll is due; returns their ids."""
    return _claim_due(Refund, UNFINISHED_REFUND_STATUSES, limit)


def attempt_poll(*, attempt_id: uuid.UUID) -> PaymentAttempt:
    """Ask the PSP about one claimed attempt, then set its next poll, or send it to review once
    PAYMENTS_POLL_GIVE_UP_AFTER has passed. A PSP that cannot answer only delays the next poll."""
    cause = Cause(kind="poll")
    PaymentAttempt.objects.filter(id=attempt_id).update(poll_count=F("poll_count") + 1, last_polled_at=timezone.now())
    try:
        attempt_sync(attempt_id=attempt_id, cause=cause)
    except PspError:
        logger.warning("poll of attempt %s: the PSP could not answer", attempt_id, exc_info=True)
    with transaction.atomic():
        checkout, attempt = lock_attempt(attempt_id)
        if attempt.status not in UNFINISHED_ATTEMPT_STATUSES:
            return attempt
        now = timezone.now()
        if now >= schedule.give_up_at(attempt.created_at):
            attempt.next_poll_at = None
            attempt.review_note = "No final status from the PSP before PAYMENTS_POLL_GIVE_UP_AFTER; polling stopped."
            move_attempt(checkout, attempt, AttemptStatus.NEEDS_REVIEW, cause)
        else:
            attempt.next_poll_at = schedule.next_poll_at(attempt.status, attempt.poll_count, now)
            attempt.save(update_fields=["next_poll_at", "updated_at"])
    return attempt


def refund_poll(*, refund_id: uuid.UUID) -> Refund:
    """As `attempt_poll`, for a refund."""
    cause = Cause(kind="poll")
    Refund.objects.filter(id=refund_id).update(poll_count=F("poll_count") + 1, last_polled_at=timezone.now())
    try:
        refund_sync(refund_id=refund_id, cause=cause)
    except PspError:
        logger.warning("poll of refund %s: the PSP could not answer", refund_id, exc_info=True)
    with transaction.atomic():
        checkout, _attempt, refund = lock_refund(refund_id)
        if refund.status not in UNFINISHED_REFUND_STATUSES:
            return refund
        now = timezone.now()
        if now >= schedule.give_up_at(refund.created_at):
            refund.next_poll_at = None
            move_refund(checkout, refund, RefundStatus.NEEDS_REVIEW, cause)
        else:
            refund.next_poll_at = schedule.next_poll_at(refund.status, refund.poll_count, now)
            refund.save(update_fields=["next_poll_at", "updated_at"])
    return refund


def poll_batch_size() -> int:
    return int(settings.PAYMENTS_POLL_BATCH_SIZE)
