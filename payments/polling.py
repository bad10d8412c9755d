"""The poller: find the attempts and refunds that are due, claim them, ask the PSP.

The rows' due times are the truth; a task message is only a doorbell, and a lost one costs about
one poll interval. `poll_due` (beat) claims due rows: it locks them (`FOR UPDATE SKIP LOCKED`, so
two beats never claim one row at once) and writes a `PollClaim` beside each, held for one poll
interval under a number drawn at random for that claim, then rings one `poll_attempt` per row with
that number. The task turns the claim into its own by deleting that very claim (compare-and-delete:
a stale or duplicated message polls nothing) while it moves the row's `next_poll_at` out
by one poll's length (`poll_lease`). So a message wiped with the broker, or held by a killed
worker, is replaced at the next beat but one; a poll killed half-way is retried once its lease
ends; and two workers or two beats never poll one row at the same time.

A claim writes a narrow row rather than a new version of the wide attempt row with its dozen
indexes: claiming 100 rows went from about 17 ms to about 2.5 ms (`make bench-claim`). Every claim
and take locks the attempt or refund row before its claim, so the two never wait on each other in
a circle, and a claim never overwrites a take: a take moves the row out of the due ones under the
lock the claim must get first.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from payments import schedule
from payments.asking import attempt_ask, refund_ask
from payments.locks import lock_attempt, lock_refund
from payments.models import PaymentAttempt, PollClaim, Refund
from payments.schedule import poll_lease
from payments.states import UNFINISHED_ATTEMPT_STATUSES, UNFINISHED_REFUND_STATUSES, AttemptStatus, RefundStatus
from payments.transitions import Cause, move_attempt, move_refund

Polled = PaymentAttempt | Refund
Claim = tuple[uuid.UUID, int]  # a row's id and the claim number its poll must present
_UNFINISHED: dict[type[Polled], frozenset[str]] = {
    PaymentAttempt: UNFINISHED_ATTEMPT_STATUSES, Refund: UNFINISHED_REFUND_STATUSES,
}


def doorbell_lease() -> timedelta:
    """How long a claimed row waits for its task: if the message is lost, the next beat but one
    claims it again."""
    return timedelta(seconds=settings.PAYMENTS_POLL_INTERVAL)


# One statement, one round trip: lock up to `limit` due rows that hold no live claim (SKIP LOCKED:
# another beat's, or a take's) and claim each under this batch's number; a claim whose lease ran
# out (its message was lost) is replaced. The conflict clause is the last guard: a row another beat
# claimed after this statement's snapshot keeps that claim and is not returned. Written in SQL that
# PostgreSQL and SQLite (the demo's database, which has no row locks) share; through the ORM it cost
# three times as much, most of it quoting each row's values on the client.
_CLAIM_DUE = """
WITH due AS (
    SELECT polled.id FROM {table} polled
    WHERE polled.next_poll_at <= %s AND polled.status IN ({statuses})
      AND NOT EXISTS (SELECT 1 FROM payments_pollclaim held WHERE held.row_id = polled.id AND held.held_until > %s)
    ORDER BY polled.next_poll_at
    LIMIT %s {lock}
)
INSERT INTO payments_pollclaim AS held (row_id, claim, held_until)
SELECT id, %s, %s FROM due WHERE true
ON CONFLICT (row_id) DO UPDATE SET claim = excluded.claim, held_until = excluded.held_until
    WHERE held.held_until <= %s
RETURNING row_id
"""


def _claim_due(model: type[Polled], statuses: frozenset[str], limit: int) -> list[Claim]:
    now = timezone.now()
    # Random, so that a claim lost with its message and a later claim of the row never share one.
    claim = secrets.randbits(63)
    sql = _CLAIM_DUE.format(
        table=connection.ops.quote_name(model._meta.db_table), statuses=", ".join(["%s"] * len(statuses)),
        lock="FOR UPDATE OF polled SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else "",
    )
    stamp = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(sql, [stamp(now), *sorted(statuses), stamp(now), limit,
                             claim, stamp(now + doorbell_lease()), stamp(now)])
        return [(_uuid(row_id), claim) for (row_id,) in cursor.fetchall()]


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def _take(model: type[Polled], row_id: uuid.UUID, claim: int | None) -> bool:
    """Make the doorbell's claim this poll's own, holding the row one poll long. False when another
    message took it first, a newer claim replaced this one, or the row finished meanwhile (its
    claim is then dropped: there is nothing left to ask the PSP). Without a claim (a poll asked
    for directly), takes the row whatever its claims and status, and makes its claims worthless."""
    now = timezone.now()
    claims = PollClaim.objects.filter(row_id=row_id)
    rows = model.objects.filter(id=row_id)
    if claim is not None:
        claims = claims.filter(claim=claim)
        rows = rows.filter(Exists(claims.filter(row_id=OuterRef("id"))), status__in=_UNFINISHED[model])
    with transaction.atomic():
        taken = rows.update(  # the row first, then its claim: the order the claim locks them in
            next_poll_at=now + poll_lease(), poll_count=F("poll_count") + 1, last_polled_at=now,
        ) == 1
        released = claims.delete()[0]
        if claim is not None and taken and released != 1:  # a twin message took this claim meanwhile
            transaction.set_rollback(True)
            return False
    return taken


def poll_claims_prune(*, batch: int = 10_000) -> int:
    """Forget claims that ran out more than a poll interval ago: their rows were claimed again, or
    finished while the message was lost. Run hourly by beat. Skips the claims a beat or a take
    holds, so it never waits on them: a beat locks its rows' claims in due order, and a prune that
    waited in another order could deadlock with it."""
    cutoff = timezone.now() - doorbell_lease()
    with transaction.atomic():
        free = PollClaim.objects.select_for_update(skip_locked=True).filter(held_until__lt=cutoff)
        return PollClaim.objects.filter(row_id__in=list(free.values_list("row_id", flat=True)[:batch])).delete()[0]


def attempts_claim_due(*, limit: int) -> list[Claim]:
    """Claim up to `limit` unfinished attempts whose poll is due; returns their ids and claims."""
    return _claim_due(PaymentAttempt, _UNFINISHED[PaymentAttempt], limit)


def refunds_claim_due(*, limit: int) -> list[Claim]:
    """Claim up to `limit` unfinished refunds whose poll is due; returns their ids and claims."""
    return _claim_due(Refund, _UNFINISHED[Refund], limit)


def attempt_poll(*, attempt_id: uuid.UUID, claim: int | None = None) -> PaymentAttempt | None:
    """Ask the PSP about one attempt, then set its next poll, or send it to review once
    PAYMENTS_POLL_GIVE_UP_AFTER has passed. A PSP that cannot answer only delays the next poll.
    With the `claim` of `attempts_claim_due`, polls only if that claim is still the row's
    (returns None otherwise: another poll has it or had it, or the attempt finished meanwhile)."""
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
