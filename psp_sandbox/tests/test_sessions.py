"""Sessions: registration, retries, conflicts and reading them back."""

from __future__ import annotations

import re
import uuid

import pytest

from .client import Psp

pytestmark = pytest.mark.sandbox

RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def test_a_new_session_is_201_with_the_session_object(psp: Psp) -> None:
    # given a new checkout
    body = {
        "checkout_id": "c-" + uuid.uuid4().hex,
        "amount": "12.50",
        "currency": "EUR",
        "description": "Order 1042",
    }
    # when it is registered
    answer = psp.post("/v1/sessions", body)
    # then the session is open, unpaid, with an opaque token
    assert answer.status_code == 201
    session = answer.json()
    assert set(session) == {
        "token",
        "checkout_id",
        "amount",
        "currency",
        "description",
        "status",
        "expires_at",
        "created_at",
        "latest_payment",
    }
    assert session["token"].startswith("tok_")
    assert (session["checkout_id"], session["amount"], session["currency"]) == (
        body["checkout_id"],
        "12.50",
        "EUR",
    )
    assert session["description"] == "Order 1042"
    assert session["status"] == "open"
    assert session["latest_payment"] is None
    assert RFC3339.fullmatch(session["created_at"])
    assert RFC3339.fullmatch(session["expires_at"])
    assert session["expires_at"] > session["created_at"]


def test_the_description_is_optional(psp: Psp) -> None:
    body = {"checkout_id": uuid.uuid4().hex, "amount": "1.00", "currency": "EUR"}
    assert psp.post("/v1/sessions", body).json()["description"] is None


def test_the_same_checkout_again_is_200_with_the_same_token(psp: Psp) -> None:
    # given a registered checkout
    body = {"checkout_id": uuid.uuid4().hex, "amount": "12.50", "currency": "EUR"}
    first = psp.post("/v1/sessions", body)
    # when it is registered again (another idempotency key: a retry at a higher level)
    again = psp.post("/v1/sessions", body)
    # then the PSP treats it as a retry: 200 with the same session
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()


@pytest.mark.parametrize(("amount", "currency"), [("12.51", "EUR"), ("12.50", "USD"), ("1250", "JPY")])
def test_the_same_checkout_with_another_amount_or_currency_is_409(psp: Psp, amount: str, currency: str) -> None:
    # given a registered checkout of 12.50 EUR
    checkout_id = uuid.uuid4().hex
    psp.post(
        "/v1/sessions",
        {"checkout_id": checkout_id, "amount": "12.50", "currency": "EUR"},
    )
    # when the same checkout_id comes with another amount or currency
    answer = psp.post(
        "/v1/sessions",
        {"checkout_id": checkout_id, "amount": amount, "currency": currency},
    )
    # then it is a conflict
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "checkout_id_conflict"


def test_get_session_shows_the_latest_payment_and_completion(psp: Psp) -> None:
    # given a session paid once with a declined card and then with a good one
    session = psp.create_session()
    declined = psp.pay(session, "pm_card_declined").json()
    assert psp.session(session["token"])["latest_payment"] == declined
    paid = psp.pay(session).json()
    # when it is read
    current = psp.session(session["token"])
    # then the latest payment is the newest one, and the session is completed
    assert current["latest_payment"] == paid
    assert current["status"] == "completed"
    assert paid["token"] == session["token"]
    assert paid["checkout_id"] == session["checkout_id"]


def test_a_retried_registration_of_a_paid_session_shows_its_payment(psp: Psp) -> None:
    body = {"checkout_id": uuid.uuid4().hex, "amount": "3.00", "currency": "EUR"}
    session = psp.post("/v1/sessions", body).json()
    payment = psp.pay(session).json()
    again = psp.post("/v1/sessions", body).json()
    assert again["status"] == "completed"
    assert again["latest_payment"]["id"] == payment["id"]
