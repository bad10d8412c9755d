"""What the end-to-end fault tests wait for and check once a system has settled: every attempt
final, as the PSP says, charged once. Shared by the recovery and the scale-out tests."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection

from django.conf import settings

from payments.models import PaymentAttempt, StatusChange
from payments.schedule import poll_lease
from payments.states import FINAL_ATTEMPT_STATUSES
from paysite.tests.processes import Sandbox

AttemptIds = Collection[str | uuid.UUID]


def recovery_bound() -> float:
    """Seconds within which every payment must be final once a fault ends: the next beat, the
    longest poll delay and one poll lease (a poll killed half-way holds its row that long), and 5 s."""
    return settings.PAYMENTS_POLL_INTERVAL + settings.PAYMENTS_POLL_MAX_DELAY + poll_lease().total_seconds() + 5


def wait_all_final(attempt_ids: AttemptIds, seconds: float, every: Callable[[], None] = lambda: None) -> float | None:
    """How long it took until every attempt was final, or None if they were not within `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if PaymentAttempt.objects.filter(id__in=attempt_ids, status__in=FINAL_ATTEMPT_STATUSES).count() == len(
            attempt_ids
        ):
            return time.monotonic() - started
        every()
        time.sleep(0.25)
    return None


def assert_as_the_psp_says_and_charged_once(sandbox: Sandbox, attempt_ids: AttemptIds) -> None:
    for attempt in PaymentAttempt.objects.filter(id__in=attempt_ids).select_related("checkout"):
        truth = sandbox.get(f"/v1/payments/{attempt.psp_payment_id}")
        assert (attempt.status, attempt.psp_version) == (truth["status"], truth["version"])
        payments = sandbox.get(f"/sandbox/sessions/{attempt.checkout.psp_token}/payments")
        assert len(payments["data"]) == 1
        assert StatusChange.objects.filter(attempt=attempt, to_status__in=FINAL_ATTEMPT_STATUSES).count() == 1


def statuses(attempt_ids: AttemptIds) -> Counter[str]:
    return Counter(PaymentAttempt.objects.filter(id__in=attempt_ids).values_list("status", flat=True))
