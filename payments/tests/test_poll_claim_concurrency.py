"""The poller's claims under real concurrency: several beats at once, and a beat beside a take.

Each thread has its own PostgreSQL connection, so the row locks and snapshots are the server's."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from checkout.tests.factories import make_checkout
from payments.models import PaymentAttempt, PollClaim
from payments.polling import attempts_claim_due
from payments.schedule import poll_lease
from payments.states import AttemptStatus
from payments.tests.factories import make_attempt

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_four_beats_claiming_at_once_claim_each_due_row_once():
    # given 200 due attempts
    due = {make_attempt(make_checkout(), status=AttemptStatus.PENDING,
                        next_poll_at=timezone.now() - timedelta(seconds=1)).id for _ in range(200)}
    start = threading.Barrier(4)

    def beat(_):
        start.wait()
        try:
            return attempts_claim_due(limit=100)
        finally:
            connection.close()

    # when four beats claim at the same moment, each up to 100
    with ThreadPoolExecutor(max_workers=4) as pool:
        claimed = [row for claims in pool.map(beat, range(4)) for row in claims]
    # then every due row was claimed, by one beat only, under the claim its row holds
    assert sorted(row_id for row_id, _claim in claimed) == sorted(due)
    assert dict(claimed) == dict(PollClaim.objects.values_list("row_id", "claim"))


def test_a_beat_skips_a_row_that_a_poll_is_taking_and_finds_it_held_after():
    # given a due attempt whose poll is taking it right now (its transaction not yet committed)
    attempt = make_attempt(make_checkout(), status=AttemptStatus.PENDING, next_poll_at=timezone.now())
    taking, release = threading.Event(), threading.Event()

    def take():
        try:
            with transaction.atomic():
                PaymentAttempt.objects.filter(id=attempt.id).update(next_poll_at=timezone.now() + poll_lease())
                taking.set()
                release.wait(10)
        finally:
            connection.close()

    taker = threading.Thread(target=take)
    taker.start()
    try:
        assert taking.wait(10)
        # when the beat claims meanwhile, and again once the take has committed
        during = attempts_claim_due(limit=10)
    finally:
        release.set()
        taker.join(10)
    after = attempts_claim_due(limit=10)
    # then it claimed the row neither time: no message to poll it beside the poll that holds it
    assert (during, after) == ([], [])
    assert PollClaim.objects.count() == 0
