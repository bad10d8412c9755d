"""The status machine: every status, every allowed move, and the one function that checks a move.

Pure: no ORM, no I/O. `payments/transitions.py` is the only code that writes a status, and it
asks `check_move` first.
"""

from __future__ import annotations

from decimal import Decimal

from django.db.models import TextChoices


class AttemptStatus(TextChoices):
    STARTED = "started"  # stored; the PSP has not answered yet, or its answer was lost
    REQUIRES_ACTION = "requires_action"
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    NEEDS_REVIEW = "needs_review"  # polling gave up, or the PSP's object contradicts ours


class CheckoutStatus(TextChoices):
    OPEN = "open"
    PROCESSING = "processing"
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    EXPIRED = "expired"


class RefundStatus(TextChoices):
    STARTED = "started"
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    NEEDS_REVIEW = "needs_review"


class IllegalMove(Exception):
    def __init__(self, kind: str, current: str, target: str):
        super().__init__(f"{kind} may not move from {current} to {target}")
        self.kind, self.current, self.target = kind, current, target


_A, _C, _R = AttemptStatus, CheckoutStatus, RefundStatus

ATTEMPT_MOVES: dict[str, frozenset[str]] = {
    _A.STARTED: frozenset({_A.REQUIRES_ACTION, _A.PENDING, _A.SUCCEEDED, _A.FAILED, _A.NEEDS_REVIEW}),
    _A.REQUIRES_ACTION: frozenset({_A.PENDING, _A.SUCCEEDED, _A.FAILED, _A.NEEDS_REVIEW}),
    _A.PENDING: frozenset({_A.SUCCEEDED, _A.FAILED, _A.NEEDS_REVIEW}),
    # Only the PSP's final word takes an attempt out of review; "still pending" keeps it there.
    _A.NEEDS_REVIEW: frozenset({_A.SUCCEEDED, _A.FAILED}),
    # A final status never changes back; only a PSP object that contradicts it sends the attempt to
    # review (payments/attempt_lifecycle.py), where staff settle it: a charge is never hidden behind "failed".
    _A.SUCCEEDED: frozenset({_A.NEEDS_REVIEW}),
    _A.FAILED: frozenset({_A.NEEDS_REVIEW}),
}

CHECKOUT_MOVES: dict[str, frozenset[str]] = {
    _C.OPEN: frozenset({_C.PROCESSING, _C.EXPIRED}),
    _C.PROCESSING: frozenset({_C.OPEN, _C.PAID, _C.PARTIALLY_REFUNDED, _C.REFUNDED}),
    _C.PAID: frozenset({_C.PARTIALLY_REFUNDED, _C.REFUNDED}),
    _C.PARTIALLY_REFUNDED: frozenset({_C.REFUNDED}),
    _C.REFUNDED: frozenset(),
    _C.EXPIRED: frozenset(),
}

REFUND_MOVES: dict[str, frozenset[str]] = {
    _R.STARTED: frozenset({_R.PENDING, _R.SUCCEEDED, _R.FAILED, _R.NEEDS_REVIEW}),
    _R.PENDING: frozenset({_R.SUCCEEDED, _R.FAILED, _R.NEEDS_REVIEW}),
    # A refund found at the PSP after all leaves review for whatever the PSP says.
    _R.NEEDS_REVIEW: frozenset({_R.PENDING, _R.SUCCEEDED, _R.FAILED}),
    # As for attempts: only the PSP contradicting a final status sends a refund to review.
    _R.SUCCEEDED: frozenset({_R.NEEDS_REVIEW}),
    _R.FAILED: frozenset({_R.NEEDS_REVIEW}),
}

MOVES = {"attempt": ATTEMPT_MOVES, "checkout": CHECKOUT_MOVES, "refund": REFUND_MOVES}

# An attempt in one of these may still take (or has taken) the shopper's money: the checkout
# has at most one of them, and Buy Now answers with it instead of charging again.
LIVE_ATTEMPT_STATUSES = frozenset({_A.STARTED, _A.REQUIRES_ACTION, _A.PENDING, _A.SUCCEEDED, _A.NEEDS_REVIEW})
UNFINISHED_ATTEMPT_STATUSES = frozenset({_A.STARTED, _A.REQUIRES_ACTION, _A.PENDING})
UNFINISHED_REFUND_STATUSES = frozenset({_R.STARTED, _R.PENDING})
FINAL_ATTEMPT_STATUSES = frozenset({_A.SUCCEEDED, _A.FAILED})


FINAL_STATUSES = {
    "attempt": FINAL_ATTEMPT_STATUSES,
    "checkout": frozenset({_C.REFUNDED, _C.EXPIRED}),
    "refund": frozenset({_R.SUCCEEDED, _R.FAILED}),
}


def status_label(kind: str, status: str) -> str:
    """What staff read for a stored status: the TextChoices' label ("Partially Refunded"); ∅ for none."""
    if not status:
        return "∅"
    choices = {"checkout": CheckoutStatus, "attempt": AttemptStatus, "refund": RefundStatus}.get(kind)
    return str(choices(status).label) if choices and status in choices.values else status


def is_final(kind: str, status: str) -> bool:
    return status in FINAL_STATUSES[kind]


def can_move(kind: str, current: str, target: str) -> bool:
    return target in MOVES[kind][current]


def check_move(kind: str, current: str, target: str) -> None:
    """Raise IllegalMove unless the table allows `current` → `target` for this kind of record."""
    if not can_move(kind, current, target):
        raise IllegalMove(kind, current, target)


def checkout_status_for(attempt_status: str | None, amount: Decimal, refunded_amount: Decimal) -> str:
    """What a checkout's status is, given its latest attempt and how much of it was refunded."""
    if attempt_status is None or attempt_status == _A.FAILED:
        return _C.OPEN
    if attempt_status != _A.SUCCEEDED:
        return _C.PROCESSING
    if refunded_amount <= 0:
        return _C.PAID
    return _C.REFUNDED if refunded_amount >= amount else _C.PARTIALLY_REFUNDED
