"""When to ask the PSP next about an unfinished attempt or refund.

The first poll comes after PAYMENTS_POLL_FIRST_DELAY (a quarter of it while the outcome is
unknown, `started`, since the shopper may be waiting); every later delay doubles, with ±10 %
jitter so that a burst of payments does not poll in lockstep, up to PAYMENTS_POLL_MAX_DELAY.
Past PAYMENTS_POLL_GIVE_UP_AFTER since creation, polling stops and the record goes to review.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.conf import settings

from payments.states import AttemptStatus, RefundStatus

_UNKNOWN_OUTCOME = frozenset({AttemptStatus.STARTED, RefundStatus.STARTED})


def poll_delay(status: str, polls_so_far: int) -> timedelta:
    first = settings.PAYMENTS_POLL_FIRST_DELAY
    if status in _UNKNOWN_OUTCOME:
        first /= 4
    delay = first * 2 ** min(polls_so_far, 32) * random.uniform(0.9, 1.1)  # noqa: S311 (jitter, not a secret)
    return timedelta(seconds=min(delay, settings.PAYMENTS_POLL_MAX_DELAY))


def next_poll_at(status: str, polls_so_far: int, now: datetime) -> datetime:
    return now + poll_delay(status, polls_so_far)


def give_up_at(created_at: datetime) -> datetime:
    return created_at + timedelta(seconds=settings.PAYMENTS_POLL_GIVE_UP_AFTER)
