"""The sandbox's test payment methods, row by row."""

from __future__ import annotations

import re

import pytest

from .client import Psp

pytestmark = pytest.mark.sandbox

PAYMENT_FIELDS = {
    "id",
    "token",
    "checkout_id",
    "amount",
    "currency",
    "payment_method",
    "status",
    "failure_code",
    "failure_message",
    "next_action",
    "refunded_amount",
    "metadata",
    "version",
    "created_at",
    "updated_at",
}

METHODS = [
    ("pm_card_visa", "succeeded", None),
    ("pm_card_mastercard", "succeeded", None),
    ("pm_card_declined", "failed", "card_declined"),
    ("pm_card_insufficient_funds", "failed", "insufficient_funds"),
    ("pm_card_expired", "failed", "expired_card"),
    ("pm_card_3ds", "requires_action", None),
    ("pm_bank_transfer", "pending", None),
    ("pm_bank_transfer_fail", "pending", None),
    ("pm_bank_transfer_silent", "pending", None),
]


@pytest.mark.parametrize(("method", "status", "failure_code"), METHODS)
def test_each_test_method_gives_its_status_in_the_response(
    psp: Psp, method: str, status: str, failure_code: str | None
) -> None:
    # given an open session
    session = psp.create_session()
    # when it is paid with a test method
    answer = psp.pay(session, method, metadata={"attempt_id": "a1"})
    # then the new payment (version 1) has that method's status
    assert answer.status_code == 201
    payment = answer.json()
    assert set(payment) == PAYMENT_FIELDS
    assert payment["id"].startswith("pay_")
    assert (payment["status"], payment["failure_code"]) == (status, failure_code)
    assert (payment["failure_message"] is None) is (failure_code is None)
    assert payment["version"] == 1
    assert payment["payment_method"] == method
    assert payment["metadata"] == {"attempt_id": "a1"}
    assert payment["refunded_amount"] == "0.00"
    assert psp.payment(payment["id"]) == payment


def test_three_d_secure_points_next_action_at_a_sandbox_page(psp: Psp) -> None:
    payment = psp.paid("pm_card_3ds")
    assert payment["next_action"]["type"] == "redirect"
    assert re.fullmatch(
        re.escape(psp.url) + r"/sandbox/3ds/" + payment["id"],
        payment["next_action"]["url"],
    )


def test_next_action_uses_the_host_the_sandbox_was_reached_at(psp: Psp) -> None:
    # given a request that reached the sandbox under another name (a proxy, a container name)
    body = psp.payment_body(psp.create_session(), "pm_card_3ds")
    headers = {"Host": "psp.example:4242", "Idempotency-Key": "host-" + body["token"]}
    # when a 3-D Secure payment is made
    payment = psp.http.post(psp.url + "/v1/payments", json=body, headers=headers, timeout=10).json()
    # then the page is under that name
    assert payment["next_action"]["url"] == f"http://psp.example:4242/sandbox/3ds/{payment['id']}"


@pytest.mark.parametrize("method", ["pm_card_amex", "PM_CARD_VISA", "", 7, None])
def test_an_unknown_method_is_invalid_payment_method(psp: Psp, method: object) -> None:
    session = psp.create_session()
    answer = psp.pay(session, method)  # type: ignore[arg-type]
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_payment_method"
    assert psp.session(session["token"])["latest_payment"] is None
