"""Refunds: creation rules, settling, and the payment's refunded amount."""

from __future__ import annotations

import time

import pytest

from .client import Psp
from .receiver import Receiver, verified_events
from .sandbox_process import SECRET

pytestmark = pytest.mark.sandbox


def test_a_partial_refund_is_pending_then_succeeds_and_grows_refunded_amount(
    psp: Psp,
) -> None:
    # given a succeeded payment of 12.50 EUR
    payment = psp.paid()
    # when 5.00 is refunded
    answer = psp.refund(payment, "5.00", reason="customer request")
    # then the refund is pending, and the payment unchanged for now
    assert answer.status_code == 201
    refund = answer.json()
    assert set(refund) == {
        "id",
        "payment_id",
        "amount",
        "currency",
        "status",
        "reason",
        "created_at",
        "updated_at",
    }
    assert refund["id"].startswith("re_")
    assert (
        refund["payment_id"],
        refund["amount"],
        refund["currency"],
        refund["status"],
        refund["reason"],
    ) == (payment["id"], "5.00", "EUR", "pending", "customer request")
    assert psp.payment(payment["id"])["version"] == 1
    # and once the settle delay has passed it succeeded, growing refunded_amount and version
    assert psp.wait_for(f"/v1/refunds/{refund['id']}", "status", "succeeded")["amount"] == "5.00"
    current = psp.payment(payment["id"])
    assert (current["refunded_amount"], current["version"], current["status"]) == (
        "5.00",
        2,
        "succeeded",
    )


def test_refunds_up_to_the_full_amount(psp: Psp) -> None:
    # given a payment refunded partly
    payment = psp.paid()
    first = psp.refund(payment, "2.50").json()
    # when the rest is refunded too
    second = psp.refund(payment, "10.00")
    assert second.status_code == 201
    # then nothing more can be refunded, and both count once settled
    over = psp.refund(payment, "0.01")
    assert over.status_code == 422
    assert over.json()["error"]["code"] == "refund_exceeds_payment"
    psp.wait_for(f"/v1/refunds/{first['id']}", "status", "succeeded")
    psp.wait_for(f"/v1/refunds/{second.json()['id']}", "status", "succeeded")
    current = psp.wait_for(f"/v1/payments/{payment['id']}", "refunded_amount", "12.50")
    assert current["version"] == 3


def test_a_refund_larger_than_the_payment_is_refused(psp: Psp) -> None:
    payment = psp.paid()
    answer = psp.refund(payment, "12.51")
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "refund_exceeds_payment"


@pytest.mark.parametrize(("amount", "currency"), [("5.13", "EUR"), ("113", "JPY"), ("1.013", "KWD")])
def test_a_refund_ending_in_13_fails_and_does_not_count(psp: Psp, amount: str, currency: str) -> None:
    # given a payment and a refund whose minor units end in 13
    full = {"EUR": "12.50", "JPY": "1200", "KWD": "1.250"}[currency]
    payment = psp.pay(psp.create_session(full, currency)).json()
    refund = psp.refund(payment, amount).json()
    # when it settles
    failed = psp.wait_for(f"/v1/refunds/{refund['id']}", "status", "failed")
    # then it failed, the payment is unchanged, and the full amount can still be refunded
    assert failed["amount"] == amount
    current = psp.payment(payment["id"])
    assert (current["version"], current["refunded_amount"]) == (
        1,
        payment["refunded_amount"],
    )
    assert psp.refund(payment, full).status_code == 201


@pytest.mark.parametrize("method", ["pm_card_declined", "pm_card_3ds", "pm_bank_transfer"])
def test_only_a_succeeded_payment_is_refundable(psp: Psp, method: str) -> None:
    payment = psp.paid(method)
    answer = psp.refund(payment, "1.00")
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "payment_not_refundable"


def test_the_currency_must_be_the_payments(psp: Psp) -> None:
    payment = psp.paid()
    answer = psp.refund(payment, "1.00", currency="USD")
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "amount_mismatch"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"amount": "1.00"}, "invalid_request"),
        ({"currency": "EUR"}, "invalid_request"),
        ({"amount": "1.00", "currency": "EUR", "reason": "r" * 256}, "invalid_request"),
        ({"amount": "1.00", "currency": "EUR", "note": "x"}, "invalid_request"),
        ({"amount": "1.0", "currency": "EUR"}, "invalid_amount"),
        ({"amount": 1, "currency": "EUR"}, "invalid_amount"),
        ({"amount": "0.00", "currency": "EUR"}, "invalid_amount"),
    ],
)
def test_bad_refund_requests_are_422(psp: Psp, body: dict[str, object], code: str) -> None:
    payment = psp.paid()
    answer = psp.post(f"/v1/payments/{payment['id']}/refunds", body)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == code


def test_refund_events(psp: Psp, receiver: Receiver) -> None:
    # given a payment with a refund that succeeds and one that fails
    payment = psp.paid()
    good = psp.refund(payment, "2.00").json()
    bad = psp.refund(payment, "1.13").json()
    # when both have settled
    events = verified_events(receiver.wait_for(psp.webhook_url, 4), SECRET)
    # then there was payment.succeeded, refund.succeeded, refund.failed and payment.refunded
    by_type = {event["type"]: event["data"] for event in events}
    assert sorted(by_type) == [
        "payment.refunded",
        "payment.succeeded",
        "refund.failed",
        "refund.succeeded",
    ]
    assert by_type["refund.succeeded"]["id"] == good["id"]
    assert by_type["refund.succeeded"]["status"] == "succeeded"
    assert by_type["refund.failed"]["id"] == bad["id"]
    assert (
        by_type["payment.refunded"]["refunded_amount"],
        by_type["payment.refunded"]["version"],
    ) == ("2.00", 2)


def test_no_webhook_about_a_silent_payments_refunds(psp: Psp, receiver: Receiver) -> None:
    payment = psp.paid("pm_bank_transfer_silent")
    psp.wait_for(f"/v1/payments/{payment['id']}", "status", "succeeded")
    refund = psp.refund(payment, "1.00").json()
    psp.wait_for(f"/v1/refunds/{refund['id']}", "status", "succeeded")
    time.sleep(0.3)
    assert receiver.deliveries(psp.webhook_url) == []
    assert psp.payment(payment["id"])["refunded_amount"] == "1.00"
