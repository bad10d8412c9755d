"""Holes an outside review found, closed: a refund the PSP made is never kept as failed, staff
cannot close (nor refund again) money the PSP reports refunded, the review judges the payment
that contradicted us, and a payment on another checkout's session is never applied by its
metadata alone."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
import time_machine
from django.db import transaction

from checkout.tests.factories import make_checkout
from payments.attempt_lifecycle import attempt_apply_payment
from payments.errors import Conflict
from payments.models import StatusChange
from payments.psp.parse import payment_from, refund_from
from payments.refunds import (
    PSP_KEY_MEMORY,
    REFUND_RESEND_WINDOW,
    refund_apply,
    refund_create,
    refund_resolve_unsent,
    refund_sync,
)
from payments.review import attempt_resolve, attempt_review_truth
from payments.states import AttemptStatus, CheckoutStatus, RefundStatus
from payments.tests.factories import PSP, make_attempt, payment_json, refund_json
from payments.transitions import Cause

pytestmark = pytest.mark.django_db
REFUNDS = f"{PSP}/v1/payments/pay_1/refunds"
WEBHOOK = Cause(kind="webhook", reference="evt_x")
STAFF = Cause(kind="staff")


def _stuck_refund(psp_stub, amount="5.00"):
    """A refund of a 12.50 payment whose answer was lost, left in review by the poller."""
    checkout = make_checkout(status=CheckoutStatus.PAID)
    attempt = make_attempt(checkout, status=AttemptStatus.SUCCEEDED, psp_payment_id="pay_1", psp_version=1)
    psp_stub.post(REFUNDS, body=requests.ConnectionError("answer lost"))
    refund = refund_create(checkout_id=checkout.id, amount=Decimal(amount), reason="damaged", cause=Cause(kind="api"))
    with time_machine.travel(refund.created_at + REFUND_RESEND_WINDOW + timedelta(seconds=1)):
        refund = refund_sync(refund_id=refund.id, cause=Cause(kind="poll"))
    assert (refund.status, refund.psp_refund_id) == (RefundStatus.NEEDS_REVIEW, None)
    return checkout, attempt, refund


def _psp_reports_refunded(attempt, amount):
    attempt_apply_payment(attempt_id=attempt.id, cause=WEBHOOK, payment=payment_from(
        payment_json(attempt, id="pay_1", version=2, refunded_amount=amount)))


def test_staff_cannot_close_a_refund_the_psps_payment_shows_as_refunded(psp_stub):
    # given a stuck 5.00 refund, and the PSP's payment.refunded saying 5.00 left
    _checkout, attempt, refund = _stuck_refund(psp_stub)
    _psp_reports_refunded(attempt, "5.00")
    # when staff try to close it a day later, then it is refused: we hold proof that money left
    with time_machine.travel(refund.created_at + PSP_KEY_MEMORY + timedelta(minutes=1)), pytest.raises(Conflict):
        refund_resolve_unsent(refund_id=refund.id, note="looks lost", cause=STAFF)
    refund.refresh_from_db()
    assert refund.status == RefundStatus.NEEDS_REVIEW


def test_money_the_psp_reports_refunded_is_never_refunded_again(psp_stub):
    # given a refund closed as failed (nothing at the PSP then), and later the PSP reports 5.00 refunded
    checkout, attempt, refund = _stuck_refund(psp_stub)
    with time_machine.travel(refund.created_at + PSP_KEY_MEMORY + timedelta(minutes=1)):
        refund_resolve_unsent(refund_id=refund.id, note="nothing at the PSP", cause=STAFF)
    _psp_reports_refunded(attempt, "5.00")
    # when a storefront asks for the whole payment back, then only what the PSP has not refunded is left
    with pytest.raises(Conflict, match=r"7\.50"):
        refund_create(checkout_id=checkout.id, amount=Decimal("12.50"), reason="again", cause=Cause(kind="api"))


def test_a_refund_the_psp_made_after_staff_closed_it_goes_back_to_review(psp_stub):
    # the race: staff ask the PSP just inside its key memory (a resend in flight, no lock held) and
    # a colleague closes the refund just outside it, before the resend's answer lands
    _checkout, _attempt, refund = _stuck_refund(psp_stub)

    def psp_answers_after_the_close(request):
        with time_machine.travel(refund.created_at + PSP_KEY_MEMORY + timedelta(seconds=30)):
            refund_resolve_unsent(refund_id=refund.id, note="nothing at the PSP", cause=STAFF)
        return 201, {}, json.dumps(refund_json("pay_1", id="re_1", amount="5.00", status="succeeded"))

    psp_stub.remove("POST", REFUNDS)
    psp_stub.add_callback("POST", REFUNDS, callback=psp_answers_after_the_close, content_type="application/json")
    with time_machine.travel(refund.created_at + PSP_KEY_MEMORY - timedelta(seconds=1)):
        refund_sync(refund_id=refund.id, cause=STAFF)
    # then the PSP's refund is not kept as failed: it is in review, its amount reserved, its story told
    refund.refresh_from_db()
    assert (refund.psp_refund_id, refund.status) == ("re_1", RefundStatus.NEEDS_REVIEW)
    change = StatusChange.objects.get(refund=refund, from_status="failed", to_status="needs_review")
    assert "says succeeded" in change.note


def test_a_psp_refund_contradicting_a_final_status_is_held_for_review(psp_stub):
    _checkout, _attempt, refund = _stuck_refund(psp_stub)
    with time_machine.travel(refund.created_at + PSP_KEY_MEMORY + timedelta(minutes=1)):
        refund_resolve_unsent(refund_id=refund.id, note="looks lost", cause=STAFF)
    refund_apply(refund_id=refund.id, cause=STAFF,
                 answer=refund_from(refund_json("pay_1", id="re_1", amount="5.00", status="succeeded")))
    refund.refresh_from_db()
    assert refund.status == RefundStatus.NEEDS_REVIEW


def test_the_review_judges_the_payment_that_contradicted_us(psp_stub, operator):
    # given an attempt failed with pay_1, then a second payment pay_2 that succeeded
    checkout = make_checkout()
    attempt = make_attempt(checkout)
    attempt_apply_payment(attempt_id=attempt.id, cause=WEBHOOK, payment=payment_from(
        payment_json(attempt, id="pay_1", status="failed", version=1, failure_code="card_declined")))
    attempt_apply_payment(attempt_id=attempt.id, cause=WEBHOOK, payment=payment_from(
        payment_json(attempt, id="pay_2", status="succeeded", version=1)))
    psp_stub.get(f"{PSP}/v1/payments/pay_1", json=payment_json(attempt, id="pay_1", status="failed", version=1))
    psp_stub.get(f"{PSP}/v1/payments/pay_2", json=payment_json(attempt, id="pay_2", status="succeeded", version=1))
    # then the review offers what pay_2 says, and refuses "failed"
    assert attempt_review_truth(attempt_id=attempt.id).confirmable == AttemptStatus.SUCCEEDED
    with pytest.raises(Conflict):
        attempt_resolve(attempt_id=attempt.id, expected_status=AttemptStatus.FAILED, actor_id=operator.id)
    # and confirming it records the charge, after which pay_1's late events change nothing
    attempt_resolve(attempt_id=attempt.id, expected_status=AttemptStatus.SUCCEEDED, actor_id=operator.id)
    attempt_apply_payment(attempt_id=attempt.id, cause=WEBHOOK, payment=payment_from(
        payment_json(attempt, id="pay_1", status="failed", version=1)))
    attempt.refresh_from_db()
    checkout.refresh_from_db()
    assert (attempt.status, attempt.psp_payment_id, checkout.status) == (AttemptStatus.SUCCEEDED, "pay_2",
                                                                         CheckoutStatus.PAID)


def test_a_payment_on_another_checkouts_session_is_held_not_applied():
    # given a PSP object for checkout B's session that echoes checkout A's attempt id
    a, b = make_checkout(), make_checkout()
    attempt_a, attempt_b = make_attempt(a), make_attempt(b)
    wrong = payment_json(attempt_b, id="pay_b", status="succeeded", version=1,
                         metadata={"attempt_id": str(attempt_a.id)})
    # when it arrives by webhook
    from webhooks.processing import _apply_payment_locked

    with transaction.atomic():
        _apply_payment_locked(payment_from(wrong), WEBHOOK)
    # then A is not paid with B's money: it is held for review
    attempt_a.refresh_from_db()
    a.refresh_from_db()
    assert a.status != CheckoutStatus.PAID
    assert attempt_a.status == AttemptStatus.NEEDS_REVIEW and "another checkout's session" in attempt_a.review_note


def test_a_refund_answered_with_a_status_we_do_not_know_is_polled_again(psp_stub):
    checkout = make_checkout(status=CheckoutStatus.PAID)
    make_attempt(checkout, status=AttemptStatus.SUCCEEDED, psp_payment_id="pay_1", psp_version=1)
    psp_stub.post(REFUNDS, json=refund_json("pay_1", id="re_1", amount="5.00", status="processing"), status=201)
    refund = refund_create(checkout_id=checkout.id, amount=Decimal("5.00"), reason="x", cause=Cause(kind="api"))
    refund.refresh_from_db()
    assert refund.status == RefundStatus.STARTED and refund.next_poll_at is not None
