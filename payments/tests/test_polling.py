"""The poller's schedule, claims and give-up, with the PSP at its HTTP boundary."""

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from checkout.tests.factories import make_checkout
from payments.attempt_lifecycle import attempt_apply_payment
from payments.models import PaymentAttempt, PollClaim
from payments.polling import _take, attempt_poll, attempts_claim_due, poll_claims_prune
from payments.psp.parse import payment_from
from payments.schedule import poll_delay, poll_lease
from payments.states import AttemptStatus
from payments.tests.factories import PSP, make_attempt, payment_json, session_json
from payments.transitions import Cause

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _poll_schedule(settings):
    settings.PAYMENTS_POLL_FIRST_DELAY = 60
    settings.PAYMENTS_POLL_MAX_DELAY = 3600
    settings.PAYMENTS_POLL_GIVE_UP_AFTER = 72 * 3600


@pytest.mark.parametrize(
    ("status", "polls", "low", "high"),
    [
        ("pending", 0, 54, 66),  # first poll after the first delay, ±10 % jitter
        ("pending", 1, 108, 132),  # then doubling
        ("pending", 3, 432, 528),
        ("pending", 10, 3240, 3600),  # capped at the maximum
        ("started", 0, 13.5, 16.5),  # an unknown outcome is asked sooner
    ],
)
def test_the_delay_doubles_with_jitter_up_to_the_maximum(status, polls, low, high):
    delays = [poll_delay(status, polls).total_seconds() for _ in range(50)]
    assert low <= min(delays) and max(delays) <= high


def test_only_due_unfinished_attempts_are_claimed_and_a_claim_holds_them():
    checkout = make_checkout()
    due = make_attempt(checkout, status=AttemptStatus.PENDING, next_poll_at=timezone.now() - timedelta(seconds=1))
    make_attempt(make_checkout(), status=AttemptStatus.PENDING, next_poll_at=timezone.now() + timedelta(minutes=1))
    make_attempt(make_checkout(), status=AttemptStatus.SUCCEEDED, next_poll_at=timezone.now() - timedelta(minutes=1))
    [(claimed_id, claim)] = attempts_claim_due(limit=10)
    assert claimed_id == due.id
    assert PollClaim.objects.get(row_id=due.id).claim == claim
    assert attempts_claim_due(limit=10) == []  # claimed: held for one poll interval


def test_a_claim_lost_with_its_message_is_claimed_again_after_one_poll_interval(settings):
    # given a due attempt claimed by a beat whose message was then lost (a broker restart)
    settings.PAYMENTS_POLL_INTERVAL = 30
    due = make_attempt(make_checkout(), status=AttemptStatus.PENDING, next_poll_at=timezone.now())
    [(_id, lost_claim)] = attempts_claim_due(limit=10)
    # when the beat runs again one poll interval later
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        again = attempts_claim_due(limit=10)
    # then the row is claimed anew, and the lost message's claim is worth nothing if it ever comes
    [(again_id, new_claim)] = again
    assert (again_id, new_claim != lost_claim) == (due.id, True)
    assert attempt_poll(attempt_id=due.id, claim=lost_claim) is None
    assert PaymentAttempt.objects.get(id=due.id).poll_count == 0  # the stale take changed nothing
    assert _take(PaymentAttempt, due.id, new_claim)


def test_two_messages_for_one_claim_poll_once(psp_stub):
    # given one claim rung twice (a duplicated message, a second beat)
    attempt = make_attempt(make_checkout(), status=AttemptStatus.PENDING, psp_payment_id="pay_1",
                           next_poll_at=timezone.now())
    psp_stub.get(f"{PSP}/v1/payments/pay_1", json=payment_json(attempt, id="pay_1", status="pending"))
    [(_id, claim)] = attempts_claim_due(limit=10)
    # when both run
    first = attempt_poll(attempt_id=attempt.id, claim=claim)
    second = attempt_poll(attempt_id=attempt.id, claim=claim)
    # then only the first asked the PSP
    assert first is not None and second is None
    assert len(psp_stub.calls) == 1


def test_a_poll_in_flight_holds_its_row_for_one_poll_and_no_longer(settings):
    # given a poll that took its claim and then died (its worker was killed)
    settings.PSP_TIMEOUT, settings.PSP_MAX_ATTEMPTS, settings.PSP_RETRY_BACKOFF = 2, 3, 0.1
    attempt = make_attempt(make_checkout(), status=AttemptStatus.PENDING, next_poll_at=timezone.now())
    [(_id, claim)] = attempts_claim_due(limit=10)
    assert _take(PaymentAttempt, attempt.id, claim)
    # then no beat claims it while the poll could still be running, and one does right after
    assert poll_lease() == timedelta(seconds=2 * (3 * 2 * 2 + 0.1 * 3) + 1)  # tries x (connect + read) + backoff
    with time_machine.travel(timezone.now() + poll_lease() - timedelta(seconds=1)):
        assert attempts_claim_due(limit=10) == []
    with time_machine.travel(timezone.now() + poll_lease() + timedelta(seconds=1)):
        [(again_id, again)] = attempts_claim_due(limit=10)
    assert (again_id, again != claim) == (attempt.id, True)


def test_a_poll_asked_for_directly_makes_the_beats_claims_worthless():
    # given a claim rung by the beat, and staff asking the PSP about the same attempt first
    attempt = make_attempt(make_checkout(), status=AttemptStatus.PENDING, next_poll_at=timezone.now())
    [(_id, claim)] = attempts_claim_due(limit=10)
    assert _take(PaymentAttempt, attempt.id, None)
    # then the beat's message polls nothing, and the row is held one poll long
    assert not _take(PaymentAttempt, attempt.id, claim)
    assert PollClaim.objects.count() == 0
    assert PaymentAttempt.objects.get(id=attempt.id).poll_count == 1
    assert attempts_claim_due(limit=10) == []


def test_claims_that_ran_out_long_ago_are_pruned_and_live_ones_kept(settings):
    settings.PAYMENTS_POLL_INTERVAL = 30
    lost = make_attempt(make_checkout(), status=AttemptStatus.PENDING, next_poll_at=timezone.now())
    attempts_claim_due(limit=10)
    PaymentAttempt.objects.filter(id=lost.id).update(status=AttemptStatus.SUCCEEDED, next_poll_at=None)
    with time_machine.travel(timezone.now() + timedelta(seconds=59)):
        live = make_attempt(make_checkout(), status=AttemptStatus.PENDING, next_poll_at=timezone.now())
        attempts_claim_due(limit=10)
        assert poll_claims_prune() == 0  # the lost message's claim ran out only 29 s ago
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert poll_claims_prune() == 1
    assert list(PollClaim.objects.values_list("row_id", flat=True)) == [live.id]
    entry = settings.CELERY_BEAT_SCHEDULE["prune-poll-claims"]
    assert (entry["task"], entry["schedule"]) == ("payments.tasks.prune_poll_claims", 3600.0)


@pytest.mark.parametrize("pace", [{"PSP_TIMEOUT": 10, "PAYMENTS_POLL_FIRST_DELAY": 60, "PSP_RETRY_BACKOFF": 0.2},
                                  {"PSP_TIMEOUT": 1, "PAYMENTS_POLL_FIRST_DELAY": 2, "PSP_RETRY_BACKOFF": 0.05}])
def test_a_change_applied_while_a_poll_holds_the_row_keeps_its_lease(settings, pace):
    # given a started attempt (Buy Now's answer not in yet) that a poll has just taken
    for name, value in pace.items():
        setattr(settings, name, value)
    attempt = make_attempt(make_checkout(), status=AttemptStatus.STARTED, next_poll_at=timezone.now())
    [(_id, claim)] = attempts_claim_due(limit=10)
    assert _take(PaymentAttempt, attempt.id, claim)
    lease_ends = PaymentAttempt.objects.get(id=attempt.id).next_poll_at
    # when the PSP's payment.pending webhook is applied while that poll is still asking the PSP
    attempt_apply_payment(attempt_id=attempt.id, payment=payment_from(payment_json(attempt, status="pending")),
                          cause=Cause(kind="webhook", reference="evt_1"))
    # then no beat claims the row again before the poll's lease is over (it did at the pending delay)
    assert PaymentAttempt.objects.get(id=attempt.id).next_poll_at >= lease_ends
    with time_machine.travel(lease_ends - timedelta(milliseconds=10)):
        assert attempts_claim_due(limit=10) == []


def test_a_poll_applies_the_psps_answer_and_stops_polling_a_final_attempt(psp_stub):
    attempt = make_attempt(make_checkout(), status=AttemptStatus.PENDING, psp_payment_id="pay_1", psp_version=1)
    psp_stub.get(f"{PSP}/v1/payments/pay_1", json=payment_json(attempt, id="pay_1", version=2))
    polled = attempt_poll(attempt_id=attempt.id)
    assert (polled.status, polled.next_poll_at) == (AttemptStatus.SUCCEEDED, None)
    attempt.refresh_from_db()
    assert attempt.poll_count == 1


def test_a_pending_answer_schedules_the_next_poll_later(psp_stub):
    attempt = make_attempt(make_checkout(), status=AttemptStatus.PENDING, psp_payment_id="pay_1", psp_version=1)
    psp_stub.get(f"{PSP}/v1/payments/pay_1", json=payment_json(attempt, id="pay_1", status="pending", version=1))
    polled = attempt_poll(attempt_id=attempt.id)
    wait = (polled.next_poll_at - timezone.now()).total_seconds()
    assert polled.status == AttemptStatus.PENDING
    assert 0.9 * 120 - 1 <= wait <= 1.1 * 120  # the second poll: the first delay doubled once


def test_a_psp_that_is_down_delays_the_poll_and_never_fails_the_payment(psp_stub):
    attempt = make_attempt(make_checkout(), status=AttemptStatus.PENDING, psp_payment_id="pay_1", psp_version=1,
                           poll_count=2)
    psp_stub.get(f"{PSP}/v1/payments/pay_1", status=503, json={"error": {"code": "internal_error", "message": ""}})
    polled = attempt_poll(attempt_id=attempt.id)
    assert polled.status == AttemptStatus.PENDING
    wait = (polled.next_poll_at - timezone.now()).total_seconds()
    assert 0.9 * 60 * 8 - 1 <= wait <= 1.1 * 60 * 8  # the fourth poll: first delay doubled three times


def test_a_started_attempt_is_learned_from_the_session(psp_stub):
    checkout = make_checkout()
    attempt = make_attempt(checkout)
    psp_stub.get(f"{PSP}/v1/sessions/{checkout.psp_token}", json=session_json(
        checkout, latest_payment=payment_json(attempt, id="pay_7", status="pending")))
    polled = attempt_poll(attempt_id=attempt.id)
    assert (polled.status, polled.psp_payment_id) == (AttemptStatus.PENDING, "pay_7")


def test_after_the_give_up_time_the_attempt_goes_to_review_and_is_no_longer_polled(psp_stub):
    attempt = make_attempt(make_checkout(), status=AttemptStatus.PENDING, psp_payment_id="pay_1", psp_version=1)
    psp_stub.get(f"{PSP}/v1/payments/pay_1", json=payment_json(attempt, id="pay_1", status="pending", version=1))
    with time_machine.travel(timezone.now() + timedelta(hours=72, seconds=1)):
        polled = attempt_poll(attempt_id=attempt.id)
    assert (polled.status, polled.next_poll_at) == (AttemptStatus.NEEDS_REVIEW, None)
    assert "GIVE_UP" in polled.review_note
    assert attempts_claim_due(limit=10) == []


def test_sync_payments_asks_the_psp_about_the_given_attempts(psp_stub):
    attempt = make_attempt(make_checkout(), status=AttemptStatus.PENDING, psp_payment_id="pay_1", psp_version=1)
    psp_stub.get(f"{PSP}/v1/payments/pay_1", json=payment_json(attempt, id="pay_1", version=2))
    out = StringIO()
    call_command("sync_payments", str(attempt.id), stdout=out)
    assert f"{attempt.id} pending -> succeeded" in out.getvalue()
    assert PaymentAttempt.objects.get().status == AttemptStatus.SUCCEEDED


def test_sync_payments_without_ids_asks_about_every_unfinished_attempt(psp_stub):
    unfinished = make_attempt(make_checkout(), status=AttemptStatus.PENDING, psp_payment_id="pay_1", psp_version=1)
    make_attempt(make_checkout(), status=AttemptStatus.SUCCEEDED, psp_payment_id="pay_2", psp_version=1)
    psp_stub.get(f"{PSP}/v1/payments/pay_1", json=payment_json(unfinished, id="pay_1", status="failed", version=2,
                                                             failure_code="processing_error"))
    out = StringIO()
    call_command("sync_payments", stdout=out)
    assert out.getvalue().count("->") == 1
    assert [call.request.url for call in psp_stub.calls] == [f"{PSP}/v1/payments/pay_1"]


def _refund(status, **fields):
    from payments.models import Refund

    checkout = make_checkout(status="paid")
    attempt = make_attempt(checkout, status=AttemptStatus.SUCCEEDED, psp_payment_id="pay_1", psp_version=1)
    refund = Refund(checkout=checkout, attempt=attempt, amount="5.00", currency="EUR", status=status,
                    idempotency_key=f"bps-refund-{status}", next_poll_at=timezone.now(), **fields)
    refund.save()
    return refund


def test_a_pending_refund_is_polled_to_its_final_status(psp_stub):
    from payments.polling import refund_poll, refunds_claim_due
    from payments.tests.factories import refund_json

    refund = _refund("pending", psp_refund_id="re_1")
    psp_stub.get(f"{PSP}/v1/refunds/re_1", json=refund_json("pay_1", id="re_1", status="succeeded"))
    [(refund_id, claim)] = refunds_claim_due(limit=10)
    assert refund_id == refund.id
    polled = refund_poll(refund_id=refund.id, claim=claim)
    assert (polled.status, polled.next_poll_at) == ("succeeded", None)
    polled.checkout.refresh_from_db()
    assert polled.checkout.status == "partially_refunded"


def test_a_refund_the_psp_may_never_have_received_goes_to_review_after_its_resend_window(psp_stub):
    from payments.polling import refund_poll

    refund = _refund("started")
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        polled = refund_poll(refund_id=refund.id)
    assert (polled.status, polled.next_poll_at) == ("needs_review", None)
    assert len(psp_stub.calls) == 0  # never resent outside the window: a second refund is impossible


def test_a_claim_on_an_attempt_that_finished_before_its_message_came_asks_the_psp_nothing(psp_stub):
    # given a due attempt claimed by the beat, then paid by a webhook before the poll's message ran
    attempt = make_attempt(make_checkout(), status=AttemptStatus.PENDING, psp_payment_id="pay_1",
                           next_poll_at=timezone.now())
    [(_id, claim)] = attempts_claim_due(limit=10)
    PaymentAttempt.objects.filter(id=attempt.id).update(status=AttemptStatus.SUCCEEDED, next_poll_at=None)
    # when the message comes
    polled = attempt_poll(attempt_id=attempt.id, claim=claim)
    # then nothing is asked and the finished row keeps no next poll; the claim is dropped
    assert polled is None
    assert len(psp_stub.calls) == 0
    assert PaymentAttempt.objects.values_list("next_poll_at", "poll_count").get(id=attempt.id) == (None, 0)
    assert PollClaim.objects.count() == 0
