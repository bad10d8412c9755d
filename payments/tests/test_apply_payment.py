"""Applying the PSP's payment objects: versions, final statuses, mismatches, one change each."""

from decimal import Decimal

import pytest

from checkout.tests.factories import make_checkout
from payments.attempt_lifecycle import attempt_apply_payment
from payments.psp.parse import payment_from
from payments.states import AttemptStatus, CheckoutStatus
from payments.tests.factories import make_attempt, payment_json
from payments.transitions import Cause

pytestmark = pytest.mark.django_db

WEBHOOK = Cause(kind="webhook", reference="evt_1")


def _apply(attempt, **fields):
    payment = payment_from(payment_json(attempt, id="pay_1", **fields))
    return attempt_apply_payment(attempt_id=attempt.id, payment=payment, cause=WEBHOOK)


def _moves(attempt):
    return list(attempt.checkout.status_changes.filter(attempt=attempt).values_list("from_status", "to_status"))


def test_an_older_version_never_undoes_a_newer_one():
    attempt = make_attempt(make_checkout())
    _apply(attempt, status="succeeded", version=2)
    result = _apply(attempt, status="pending", version=1)
    assert result.status == AttemptStatus.SUCCEEDED
    assert result.psp_version == 2
    assert _moves(attempt) == [("started", "succeeded")]


def test_the_same_version_twice_changes_nothing_the_second_time():
    attempt = make_attempt(make_checkout())
    _apply(attempt, status="pending", version=1)
    _apply(attempt, status="pending", version=1)
    assert _moves(attempt) == [("started", "pending")]


def test_versions_in_order_walk_the_machine_and_move_the_checkout():
    checkout = make_checkout()
    attempt = make_attempt(checkout)
    _apply(attempt, status="requires_action", version=1, next_action={"type": "redirect", "url": "http://p/3ds"})
    _apply(attempt, status="succeeded", version=2)
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.PAID
    assert _moves(attempt) == [("started", "requires_action"), ("requires_action", "succeeded")]
    checkout_moves = list(checkout.status_changes.filter(subject="checkout").values_list("from_status", "to_status"))
    assert checkout_moves == [("processing", "paid")]


def test_a_refunded_amount_in_a_newer_version_moves_the_checkout():
    checkout = make_checkout(status=CheckoutStatus.PROCESSING)
    attempt = make_attempt(checkout)
    _apply(attempt, status="succeeded", version=1)
    _apply(attempt, status="succeeded", version=2, refunded_amount="5.00")
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.PARTIALLY_REFUNDED
    _apply(attempt, status="succeeded", version=3, refunded_amount="12.50")
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.REFUNDED


@pytest.mark.parametrize("change", [{"amount": "1.00"}, {"currency": "USD"}])
def test_another_amount_or_currency_never_marks_the_attempt_paid(change):
    checkout = make_checkout()
    attempt = make_attempt(checkout)
    result = _apply(attempt, status="succeeded", version=1, **change)
    assert result.status == AttemptStatus.NEEDS_REVIEW
    assert "we asked for 12.50 EUR" in result.review_note
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.PROCESSING


def test_an_attempt_in_review_leaves_it_only_for_a_final_word():
    attempt = make_attempt(make_checkout(), status=AttemptStatus.NEEDS_REVIEW)
    assert _apply(attempt, status="pending", version=1).status == AttemptStatus.NEEDS_REVIEW
    assert _apply(attempt, status="succeeded", version=2).status == AttemptStatus.SUCCEEDED
    assert attempt.checkout.attempts.get().refunded_amount == Decimal("0")
