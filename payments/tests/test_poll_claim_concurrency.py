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
from payments.polling import _take, attempts_claim_due, poll_claims_prune
from payments.schedule import poll_lease
from payments.states import AttemptStatus
from payments.tests.factories import make_attempt
from payments.tests.threads import in_thread, wait_until_blocked

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


# --- found by an outside review (the first test deadlocked before the prune skipped locked claims)

def test_the_hourly_prune_never_waits_on_a_held_claim_so_it_cannot_deadlock_with_a_beat():
    # given two due attempts whose claims ran out minutes ago (their messages lost while the beats
    # were down), and a finished attempt M whose claim lingers too, stored between them
    now = timezone.now()
    a = make_attempt(make_checkout(), status=AttemptStatus.PENDING, next_poll_at=now - timedelta(minutes=5))
    m = make_attempt(make_checkout(), status=AttemptStatus.SUCCEEDED, next_poll_at=None)
    b = make_attempt(make_checkout(), status=AttemptStatus.PENDING, next_poll_at=now - timedelta(minutes=10))
    for row in (a, m, b):
        PollClaim.objects.create(row_id=row.id, claim=7, held_until=now - timedelta(minutes=5))
    # and M's claim row held by another transaction (a beat or a late take, in another order)
    held, release, results = threading.Event(), threading.Event(), {}

    def hold_m():
        with transaction.atomic():
            list(PollClaim.objects.select_for_update().filter(row_id=m.id))
            held.set()
            release.wait(10)

    holder = in_thread(results, "holder", hold_m)
    assert held.wait(10)
    try:
        # when the hourly prune runs meanwhile, and then a beat
        prune = in_thread(results, "prune", poll_claims_prune)
        prune.join(10)
        beat = in_thread(results, "beat", lambda: attempts_claim_due(limit=10))
        beat.join(10)
    finally:
        release.set()
        holder.join(10)
    # then the prune finished without waiting, leaving M's held claim for its next run, and the
    # beat claimed both due rows
    failures = {name: repr(result) for name, result in results.items() if isinstance(result, Exception)}
    assert failures == {}
    assert results["prune"] == 2
    assert sorted(row_id for row_id, _claim in results["beat"]) == sorted([a.id, b.id])
    assert poll_claims_prune() == 1


def test_a_late_take_waiting_behind_the_beat_that_replaces_its_claim_polls_nothing():
    # given a due attempt whose claim ran out (its message late), and a beat replacing that claim
    # right now (its transaction not yet committed)
    attempt = make_attempt(make_checkout(), status=AttemptStatus.PENDING, next_poll_at=timezone.now())
    [(_id, old)] = attempts_claim_due(limit=10)
    PollClaim.objects.filter(row_id=attempt.id).update(held_until=timezone.now() - timedelta(seconds=1))
    claimed, release, results = threading.Event(), threading.Event(), {}

    def beat():
        with transaction.atomic():
            got = attempts_claim_due(limit=10)
            claimed.set()
            release.wait(10)
        return got

    threads = [in_thread(results, "beat", beat)]
    assert claimed.wait(10)
    # when the late message takes its old claim meanwhile (it waits for the row)
    threads.append(in_thread(results, "late", lambda: _take(PaymentAttempt, attempt.id, old)))
    wait_until_blocked('UPDATE "payments_paymentattempt"')
    release.set()
    for thread in threads:
        thread.join(20)
    # then the late message polls nothing, and the beat's new claim stands
    [(_row, new)] = results["beat"]
    assert results["late"] is False
    assert PaymentAttempt.objects.get(id=attempt.id).poll_count == 0
    assert PollClaim.objects.get(row_id=attempt.id).claim == new


def test_twin_messages_taking_at_once_poll_once():
    attempt = make_attempt(make_checkout(), status=AttemptStatus.PENDING, next_poll_at=timezone.now())
    [(_id, claim)] = attempts_claim_due(limit=10)
    taken, release, results = threading.Event(), threading.Event(), {}

    def first():
        with transaction.atomic():
            got = _take(PaymentAttempt, attempt.id, claim)
            taken.set()
            release.wait(10)
        return got

    threads = [in_thread(results, "first", first)]
    assert taken.wait(10)
    threads.append(in_thread(results, "twin", lambda: _take(PaymentAttempt, attempt.id, claim)))
    wait_until_blocked('UPDATE "payments_paymentattempt"')
    release.set()
    for thread in threads:
        thread.join(20)
    assert (results["first"], results["twin"]) == (True, False)
    assert PaymentAttempt.objects.get(id=attempt.id).poll_count == 1
    assert attempts_claim_due(limit=10) == []
