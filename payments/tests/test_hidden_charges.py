"""A charged payment is never hidden: a PSP object that contradicts a final status we hold, or
that belongs to another attempt of the checkout, sends the attempt it concerns to needs_review
with the object on the timeline and the dashboard's review queue; and an attempt is never
declared not received while a resend of it may still be in flight."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from checkout.tests.factories import make_checkout
from midoffice.dashboard_selectors import review_queue
from payments.attempt_lifecycle import ATTEMPT_RESEND_WINDOW, attempt_apply_payment, attempt_sync
from payments.models import PaymentAttempt, StatusChange
from payments.psp.parse import payment_from, refund_from
from payments.refunds import refund_apply, refund_record
from payments.states import AttemptStatus, CheckoutStatus
from payments.tests.factories import PSP, make_attempt, payment_json, refund_json, session_json
from payments.transitions import Cause

pytestmark = pytest.mark.django_db
POLL = Cause(kind="poll")


def _apply(attempt, **fields):
    payment = payment_from(payment_json(attempt, **fields))
    return attempt_apply_payment(attempt_id=attempt.id, payment=payment, cause=POLL)


def _review_change(attempt):
    return StatusChange.objects.get(attempt=attempt, to_status=AttemptStatus.NEEDS_REVIEW)


def test_a_failed_attempt_the_psp_says_succeeded_goes_to_review_with_the_object():
    # given an attempt we hold as failed
    checkout = make_checkout()
    attempt = make_attempt(checkout)
    _apply(attempt, id="pay_1", status="failed", version=1, failure_code="card_declined")
    # when the PSP's newer object says it succeeded
    result = _apply(attempt, id="pay_1", status="succeeded", version=2)
    # then it is in review, on the queue, with the PSP's object (token masked) on the timeline
    assert result.status == AttemptStatus.NEEDS_REVIEW and result.psp_contradiction
    assert "we hold failed" in result.review_note and "says succeeded" in result.review_note
    change = _review_change(attempt)
    assert (change.from_status, change.cause) == ("failed", "poll")
    assert '"id": "pay_1"' in change.note and '"status": "succeeded"' in change.note
    assert checkout.psp_token not in change.note
    assert attempt in review_queue().oldest
    # and the open checkout is processing again, so it cannot be paid a second time meanwhile
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.PROCESSING


def test_a_succeeded_attempt_the_psp_says_failed_goes_to_review_and_the_checkout_stays_paid():
    checkout = make_checkout()
    attempt = make_attempt(checkout)
    _apply(attempt, id="pay_1", status="succeeded", version=1)
    result = _apply(attempt, id="pay_1", status="failed", version=2)
    assert result.status == AttemptStatus.NEEDS_REVIEW
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.PAID  # its table allows no way back; staff settle it


def test_a_second_psp_payment_for_one_attempt_goes_to_review():
    attempt = make_attempt(make_checkout())
    _apply(attempt, id="pay_1", status="succeeded", version=1)
    result = _apply(attempt, id="pay_2", status="succeeded", version=1)
    assert result.status == AttemptStatus.NEEDS_REVIEW
    assert "second payment pay_2" in result.review_note
    assert result.psp_payment_id == "pay_1"


def test_a_payment_naming_another_attempt_is_held_not_applied():
    attempt = make_attempt(make_checkout())
    result = _apply(attempt, id="pay_9", status="succeeded", version=1, metadata={"attempt_id": "someone-else"})
    assert result.status == AttemptStatus.NEEDS_REVIEW
    assert result.psp_payment_id is None
    assert "belongs to attempt someone-else" in result.review_note


def test_a_held_attempt_leaves_review_only_by_staff_and_is_noted_once():
    attempt = make_attempt(make_checkout())
    _apply(attempt, id="pay_1", status="failed", version=1)
    _apply(attempt, id="pay_1", status="succeeded", version=2)
    again = _apply(attempt, id="pay_1", status="succeeded", version=3)
    assert again.status == AttemptStatus.NEEDS_REVIEW
    assert StatusChange.objects.filter(attempt=attempt, to_status=AttemptStatus.NEEDS_REVIEW).count() == 1


def test_the_session_payment_of_an_older_failed_attempt_is_applied_to_that_attempt(psp_stub):
    # given attempt 1 failed (we think), and attempt 2 is started with no answer
    checkout = make_checkout()
    first = make_attempt(checkout, status=AttemptStatus.FAILED, failure_code="not_received_by_psp")
    second = make_attempt(checkout, created_at=timezone.now())
    PaymentAttempt.objects.filter(id=first.id).update(created_at=timezone.now() - timedelta(hours=1))
    # when the session shows attempt 1's payment as succeeded
    charged = payment_json(first, id="pay_1", status="succeeded", version=2)
    psp_stub.get(f"{PSP}/v1/sessions/{checkout.psp_token}", json=session_json(checkout, latest_payment=charged))
    psp_stub.post(f"{PSP}/v1/payments", json=payment_json(second, id="pay_2", status="succeeded"), status=201)
    attempt_sync(attempt_id=second.id, cause=POLL)
    # then attempt 1 is held for review beside attempt 2: the charge shows
    first.refresh_from_db()
    assert first.status == AttemptStatus.NEEDS_REVIEW and first.psp_contradiction
    assert "says succeeded" in first.review_note


@pytest.mark.parametrize("late_by", [timedelta(seconds=1), timedelta(seconds=30)])
def test_a_started_attempt_is_not_declared_unreceived_while_a_resend_may_be_in_flight(psp_stub, late_by):
    # given a started attempt just past the resend window, and a session with no payment yet
    checkout = make_checkout()
    attempt = make_attempt(checkout)
    psp_stub.get(f"{PSP}/v1/sessions/{checkout.psp_token}", json=session_json(checkout))
    # when it is synced then
    with time_machine.travel(attempt.created_at + ATTEMPT_RESEND_WINDOW + late_by):
        result = attempt_sync(attempt_id=attempt.id, cause=POLL)
    # then it stays started (a resend sent a moment ago may still charge), and nothing is resent
    assert result.status == AttemptStatus.STARTED
    assert not [call for call in psp_stub.calls if call.request.method == "POST"]


def test_a_started_attempt_no_send_can_reach_any_more_is_failed_as_not_received(psp_stub):
    checkout = make_checkout()
    attempt = make_attempt(checkout)
    psp_stub.get(f"{PSP}/v1/sessions/{checkout.psp_token}", json=session_json(checkout))
    with time_machine.travel(attempt.created_at + ATTEMPT_RESEND_WINDOW + timedelta(minutes=5)):
        result = attempt_sync(attempt_id=attempt.id, cause=POLL)
    assert (result.status, result.failure_code) == (AttemptStatus.FAILED, "not_received_by_psp")


def test_a_late_older_refund_total_never_lowers_the_refunded_amount():
    # given a paid checkout fully refunded in two refunds, applied from their refund events
    checkout = make_checkout()
    attempt = make_attempt(checkout)
    _apply(attempt, id="pay_1", status="succeeded", version=1)
    for amount in ("5.00", "7.50"):
        refund = refund_record(checkout=checkout, amount=Decimal(amount), reason="", cause=POLL)
        refund_apply(refund_id=refund.id, answer=refund_from(refund_json("pay_1", amount=amount, status="succeeded")),
                     cause=POLL)
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.REFUNDED
    # when the payment.refunded event sent after the first refund (v2: 5.00 refunded) arrives late
    result = _apply(attempt, id="pay_1", status="succeeded", version=2, refunded_amount="5.00")
    # then nothing goes down and nothing fails
    assert result.refunded_amount == Decimal("12.50")
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.REFUNDED
