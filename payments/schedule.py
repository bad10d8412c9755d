"""When to ask the PSP next about an unfinished attempt or refund.

The first poll comes after PAYMENTS_POLL_FIRST_DELAY (a quarter of it while the outcome is
unknown, `started`, since the shopper may be waiting); every later delay doubles, with ±10 %
jitter so that a burst of payments does not poll in lockstep, up to PAYMENTS_POLL_MAX_DELAY.
Past PAYMENTS_POLL_GIVE_UP_AFTER since creation, polling stops and the record goes to review.
A change applied while a poll holds the row (a webhook, Buy Now's answer, staff asking the PSP)
never brings its next poll inside that poll's lease, so no beat claims it while it may still run.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.conf import settings

from payments.gateway import longest_psp_request
from payments.states import AttemptStatus, RefundStatus

_UNKNOWN_OUTCOME = frozenset({AttemptStatus.STARTED, RefundStatus.STARTED})


def poll_delay(status: str, polls_so_far: int) -> timedelta:
    first = settings.PAYMENTS_POLL_FIRST_DELAY
    if status in _UNKNOWN_OUTCOME:
        first /= 4
    delay = first * 2 ** min(polls_so_far, 32) * random.uniform(0.9, 1.1)  # noqa: S311 (jitter, not a secret)
    return timedelta(seconds=min(delay, settings.PAYMENTS_POLL_MAX_DELAY))


def next_poll_at(status: str, polls_so_far: int, now: datetime, *, polled_at: datetime | None = None) -> datetime:
    """The next poll after a change made `now`; with `polled_at` (when a poll last took the row),
    not before that poll's lease has run out."""
    at = now + poll_delay(status, polls_so_far)
    return max(at, polled_at + poll_lease()) if polled_at is not None else at


def poll_lease() -> timedelta:
    """One poll at its longest: two PSP requests (a session read, then a resend), each at its
    longest, and a second for the database."""
    return 2 * longest_psp_request() + timedelta(seconds=1)


def give_up_at(created_at: datetime) -> datetime:
    return created_at + timedelta(seconds=settings.PAYMENTS_POLL_GIVE_UP_AFTER)
