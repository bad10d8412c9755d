"""The poller: find the attempts and refunds that are due, claim them, ask the PSP.

The rows' due times are the truth; a task message is only a doorbell, and a lost one costs
about one poll interval. `poll_due` (beat) claims due rows with `SELECT … FOR UPDATE SKIP
LOCKED`, moving `next_poll_at` forward by one poll interval and bumping `poll_claim`, and rings
one `poll_attempt` per row with that claim number. The task turns the claim into its own by a
compare-and-set on `poll_claim` (so a stale or duplicated message polls nothing) and holds the
row for one poll's length (`poll_lease`). So a message wiped with the broker, or held by a
killed worker, is replaced at the next beat but one; a poll killed half-way is retried once its
lease ends; and two workers or two beats never poll one row at the same time.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from payments import schedule
from payments.asking import attempt_ask, refund_ask
from payments.locks import lock_attempt, lock_due_for_poll, lock_refund
from payments.models import PaymentAttempt, Refund
from payments.schedule import poll_lease
from payments.states import UNFINISHED_ATTEMPT_STATUSES, UNFINISHED_REFUND_STATUSES, AttemptStatus, RefundStatus
from payments.transitions import Cause, move_attempt, move_refund

Polled = PaymentAttempt | Refund
Claim = tuple[uuid.UUID, int]  # a row's id and the claim number its poll must present


def doorbell_lease() -> timedelta:
    """How long a claimed row waits for its task: if the message is lost, the next beat but one
    claims it again."""
    return timedelta(seconds=settings.PAYMENTS_POLL_INTERVAL)


def _claim_due(model: type[Polled], statuses: frozenset[str], limit: int) -> list[Claim]:
    now = timezone.now()
    with transaction.atomic():
        due = lock_due_for_poll(model, statuses=statuses, now=now, limit=limit)
        model.objects.filter(id__in=[row_id for row_id, _claim in due]).update(
            next_poll_at=now + doorbell_lease(), poll_claim=F("poll_claim") + 1
        )
    return [(row_id, claim + 1) for row_id, claim in due]


def _take(model: type[Polled], row_id: uuid.UUID, claim: int | None) -> bool:
    """Make the doorbell's claim this poll's own (compare-and-set), holding the row one poll long.
    False when another message took it first, or a newer claim replaced this one."""
    now = timezone.now()
    rows = model.objects.filter(id=row_id)
    if claim is not None:
        rows = rows.filter(poll_claim=claim)
    return rows.update(
        poll_claim=F("poll_claim") + 1, next_poll_at=now + poll_lease(), poll_count=F("poll_count") + 1,
        last_polled_at=now,
    ) == 1


def attempts_claim_due(*, limit: int) -> list[Claim]:
    """Claim up to `limit` unfinished attempts whose poll is due; returns their ids and claims."""
    return _claim_due(PaymentAttempt, UNFINISHED_ATTEMPT_STATUSES, limit)


def refunds_claim_due(*, limit: int) -> list[Claim]:
    """Claim up to `limit` unfinished refunds whose poll is due; returns their ids and claims."""
    return _claim_due(Refund, UNFINISHED_REFUND_STATUSES, limit)


def attempt_poll(*, attempt_id: uuid.UUID, claim: int | None = None) -> PaymentAttempt | None:
    """Ask the PSP about one attempt, then set its next poll, or send it to review once
    PAYMENTS_POLL_GIVE_UP_AFTER has passed. A PSP that cannot answer only delays the next poll.
    With the `claim` of `attempts_claim_due`, polls only if that claim is still the row's
    (returns None otherwise: another poll has it, or had it)."""
    if not _take(PaymentAttempt, attempt_id, claim):
        return None
    cause = Cause(kind="poll")
    attempt_ask(attempt_id=attempt_id, cause=cause)  # a PSP that cannot answer only delays the next poll
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


def refund_poll(*, refund_id: uuid.UUID, claim: int | None = None) -> Refund | None:
    """As `attempt_poll`, for a refund."""
    if not _take(Refund, refund_id, claim):
        return None
    cause = Cause(kind="poll")
    refund_ask(refund_id=refund_id, cause=cause)
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
