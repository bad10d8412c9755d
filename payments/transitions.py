"""The only code that writes a status.

Each function here expects its rows locked (see `payments/locks.py`) inside the caller's
transaction, checks the move against `payments/states.py`, saves the new status and appends a
`StatusChange` row in that same transaction, with the storefront's event for it (payments/outbox.py).
A move to the status a row already has is a no-op: it writes nothing, so a webhook and a poll
reporting the same outcome make one change (and one event).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from payments.locks import known_latest
from payments.models import Checkout, PaymentAttempt, Refund, StatusChange
from payments.outbox import checkout_event_sequence_taken, outbox_checkout_moved, outbox_refund_ended
from payments.selectors import checkout_latest_attempt
from payments.states import AttemptStatus, can_move, check_move, checkout_status_for


@dataclass(frozen=True)
class Cause:
    """Who or what moved a status: the PSP's answer, a webhook event, a poll, a staff member…"""

    kind: str  # a StatusChange.Cause value
    reference: str = ""
    actor_id: int | None = None
    note: str = ""

    def label(self) -> str:
        """One line for the timeline of PSP calls: "poll", "webhook evt_…", "staff user #3"."""
        parts = [self.kind, self.reference, f"user #{self.actor_id}" if self.actor_id else ""]
        return " ".join(part for part in parts if part)[:255]


def _record(checkout: Checkout, subject: str, old: str, new: str, cause: Cause, **links: object) -> None:
    StatusChange.objects.create(
        checkout=checkout, subject=subject, from_status=old, to_status=new, cause=cause.kind,
        cause_reference=cause.reference[:255], actor_id=cause.actor_id, note=cause.note, **links,
    )


def record_creation(checkout: Checkout, cause: Cause, *, attempt: PaymentAttempt | None = None,
                    refund: Refund | None = None) -> None:
    """The first row of a new record's history (from nothing to its first status)."""
    if refund is not None:
        _record(checkout, "refund", "", refund.status, cause, attempt=refund.attempt, refund=refund)
    elif attempt is not None:
        _record(checkout, "attempt", "", attempt.status, cause, attempt=attempt)
    else:
        _record(checkout, "checkout", "", checkout.status, cause)


def move_checkout(checkout: Checkout, target: str, cause: Cause, *, latest: PaymentAttempt | None = None) -> bool:
    """Move the checkout, with its storefront event (its sequence saved by the status's own
    UPDATE). `latest`: the checkout's latest attempt, when the caller holds it (saves a read)."""
    if checkout.status == target:
        return False
    check_move("checkout", checkout.status, target)
    old, checkout.status = checkout.status, target
    reported = checkout_event_sequence_taken(checkout, target)
    checkout.save(update_fields=["status", "updated_at", "event_sequence"])
    _record(checkout, "checkout", old, target, cause)
    if reported:
        outbox_checkout_moved(checkout, target, latest=latest)
    return True


def move_attempt(checkout: Checkout, attempt: PaymentAttempt, target: str, cause: Cause) -> bool:
    """Move the attempt (saving its other changed fields too) and the checkout that follows it."""
    changed = attempt.status != target
    if changed:
        check_move("attempt", attempt.status, target)
        old, attempt.status = attempt.status, target
        _record(checkout, "attempt", old, target, cause, attempt=attempt)
    attempt.save()
    follow_attempt(checkout, attempt, cause)
    return changed


def hold_attempt_for_review(checkout: Checkout, attempt: PaymentAttempt, cause: Cause) -> None:
    """Move an attempt to `needs_review` because the PSP contradicts what we hold, from any
    status; each contradiction gets its row on the timeline, even for an attempt in review
    already. The checkout follows only where its own table allows: an open one becomes
    `processing` (so it cannot be paid again meanwhile); a paid, refunded or expired one keeps
    its status until staff settle the review."""
    old = attempt.status
    if old != AttemptStatus.NEEDS_REVIEW:
        check_move("attempt", old, AttemptStatus.NEEDS_REVIEW)
        attempt.status = AttemptStatus.NEEDS_REVIEW
    _record(checkout, "attempt", old, attempt.status, cause, attempt=attempt)
    attempt.save()
    follow_attempt(checkout, attempt, cause, only_where_allowed=True)


def follow_attempt(checkout: Checkout, attempt: PaymentAttempt, cause: Cause, *,
                   only_where_allowed: bool = False) -> None:
    """Bring the checkout's status in line with its latest attempt and its refunds (with
    `only_where_allowed`, only if the checkout's table allows that move, else it stays).
    Whether `attempt` is the latest is read once, unless its lock already told (`known_latest`)."""
    is_latest = known_latest(attempt)
    if is_latest is None:
        newest = checkout_latest_attempt(checkout=checkout)
        is_latest = newest is None or newest.id == attempt.id
    if not is_latest:
        return  # an older attempt does not speak for the checkout
    target = checkout_status_for(attempt.status, checkout.amount, attempt.refunded_amount or Decimal(0))
    if only_where_allowed and not can_move("checkout", checkout.status, target):
        return
    move_checkout(checkout, target, cause, latest=attempt)


def move_refund(checkout: Checkout, refund: Refund, target: str, cause: Cause, *, report: bool = True) -> bool:
    """Move the refund; with `report=False` the caller reports it (`report_refund`) once the rest of
    its change is made, so that the storefront's event shows the checkout as it commits."""
    changed = refund.status != target
    if changed:
        check_move("refund", refund.status, target)
        old, refund.status = refund.status, target
        _record(checkout, "refund", old, target, cause, attempt=refund.attempt, refund=refund)
    refund.save()
    if changed and report:
        report_refund(checkout, refund)
    return changed


def report_refund(checkout: Checkout, refund: Refund) -> None:
    """The storefront's event for a refund that reached a final status (none for other moves)."""
    outbox_refund_ended(checkout, refund)
