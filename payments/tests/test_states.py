from decimal import Decimal

import pytest

from payments.states import (
    ATTEMPT_MOVES,
    CHECKOUT_MOVES,
    AttemptStatus,
    CheckoutStatus,
    IllegalMove,
    check_move,
    checkout_status_for,
    is_final,
    status_label,
)


@pytest.mark.parametrize("final", [AttemptStatus.SUCCEEDED, AttemptStatus.FAILED])
@pytest.mark.parametrize("target", sorted(set(AttemptStatus.values) - {AttemptStatus.NEEDS_REVIEW}))
def test_a_final_attempt_never_moves_back(final, target):
    with pytest.raises(IllegalMove):
        check_move("attempt", final, target)


@pytest.mark.parametrize("final", [AttemptStatus.SUCCEEDED, AttemptStatus.FAILED])
def test_a_final_attempt_goes_only_to_review_when_the_psp_contradicts_it(final):
    check_move("attempt", final, AttemptStatus.NEEDS_REVIEW)
    assert is_final("attempt", final)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (AttemptStatus.STARTED, AttemptStatus.SUCCEEDED),
        (AttemptStatus.REQUIRES_ACTION, AttemptStatus.PENDING),
        (AttemptStatus.PENDING, AttemptStatus.FAILED),
        (AttemptStatus.PENDING, AttemptStatus.NEEDS_REVIEW),
        (AttemptStatus.NEEDS_REVIEW, AttemptStatus.SUCCEEDED),
    ],
)
def test_the_psp_transitions_are_allowed(current, target):
    check_move("attempt", current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (AttemptStatus.PENDING, AttemptStatus.REQUIRES_ACTION),
        (AttemptStatus.PENDING, AttemptStatus.STARTED),
        (AttemptStatus.NEEDS_REVIEW, AttemptStatus.PENDING),
    ],
)
def test_backward_moves_are_refused(current, target):
    with pytest.raises(IllegalMove):
        check_move("attempt", current, target)


def test_every_status_has_a_row_in_the_tables():
    assert set(ATTEMPT_MOVES) == set(AttemptStatus.values)
    assert set(CHECKOUT_MOVES) == set(CheckoutStatus.values)
    assert is_final("checkout", CheckoutStatus.REFUNDED)
    assert not is_final("checkout", CheckoutStatus.PAID)


@pytest.mark.parametrize(
    ("attempt_status", "refunded", "expected"),
    [
        (None, "0", CheckoutStatus.OPEN),
        (AttemptStatus.FAILED, "0", CheckoutStatus.OPEN),
        (AttemptStatus.STARTED, "0", CheckoutStatus.PROCESSING),
        (AttemptStatus.NEEDS_REVIEW, "0", CheckoutStatus.PROCESSING),
        (AttemptStatus.SUCCEEDED, "0", CheckoutStatus.PAID),
        (AttemptStatus.SUCCEEDED, "5.00", CheckoutStatus.PARTIALLY_REFUNDED),
        (AttemptStatus.SUCCEEDED, "12.50", CheckoutStatus.REFUNDED),
    ],
)
def test_checkout_status_follows_its_attempt(attempt_status, refunded, expected):
    assert checkout_status_for(attempt_status, Decimal("12.50"), Decimal(refunded)) == expected


@pytest.mark.parametrize(("kind", "status", "label"), [
    ("checkout", "partially_refunded", "Partially Refunded"),
    ("attempt", "needs_review", "Needs Review"),
    ("refund", "", "∅"),
    ("checkout", "not_a_status", "not_a_status"),
])
def test_staff_read_a_status_by_its_label(kind, status, label):
    assert status_label(kind, status) == label
