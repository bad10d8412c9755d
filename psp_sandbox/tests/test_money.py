"""Money: decimal strings with exactly the currency's minor-unit digits."""

from __future__ import annotations

import uuid

import pytest

from .client import Psp

pytestmark = pytest.mark.sandbox

GOOD_AMOUNTS = [
    ("12.50", "EUR"),
    ("0.01", "USD"),
    ("1.00", "GBP"),
    ("5.05", "CHF"),
    ("100.00", "SEK"),
    ("99999999.99", "EUR"),
    ("1200", "JPY"),
    ("1", "JPY"),
    ("99999999", "JPY"),
    ("1.250", "KWD"),
    ("0.001", "KWD"),
]

BAD_AMOUNTS = [
    ("12.5", "EUR"),
    ("12.500", "EUR"),
    ("012.50", "EUR"),
    ("0.00", "EUR"),
    ("-1.00", "EUR"),
    ("1e3", "EUR"),
    (12.5, "EUR"),
    (1250, "EUR"),
    (None, "EUR"),
    ("100000000.00", "EUR"),
    ("12", "EUR"),
    ("", "EUR"),
    (" 12.50", "EUR"),
    ("12,50", "EUR"),
    ("\uff11\uff12.\uff15\uff10", "EUR"),  # full-width digits
    ("1200.00", "JPY"),
    ("0", "JPY"),
    ("100000000", "JPY"),
    ("1.25", "KWD"),
    ("1.2500", "KWD"),
]

BAD_CURRENCIES = ["eur", "Eur", "XXX", "BTC", "", 978, None]


def _session_body(amount: object, currency: object) -> dict[str, object]:
    return {"checkout_id": uuid.uuid4().hex, "amount": amount, "currency": currency}


@pytest.mark.parametrize(("amount", "currency"), GOOD_AMOUNTS)
def test_a_well_formed_amount_is_accepted_and_echoed_exactly(psp: Psp, amount: str, currency: str) -> None:
    # given a well-formed amount for its currency
    # when a session and a payment are made with it
    answer = psp.post("/v1/sessions", _session_body(amount, currency))
    payment = psp.pay(answer.json())
    # then both keep the amount exactly as sent
    assert answer.status_code == 201, answer.text
    assert (answer.json()["amount"], answer.json()["currency"]) == (amount, currency)
    assert payment.status_code == 201, payment.text
    assert payment.json()["amount"] == amount


@pytest.mark.parametrize(("amount", "currency"), BAD_AMOUNTS)
def test_a_malformed_amount_is_invalid_amount(psp: Psp, amount: object, currency: str) -> None:
    # given an amount that breaks the format of its currency
    # when a session is registered with it
    answer = psp.post("/v1/sessions", _session_body(amount, currency))
    # then it is refused as invalid_amount
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_amount"


@pytest.mark.parametrize(("amount", "currency"), BAD_AMOUNTS[:8])
def test_a_payment_checks_the_amount_format_too(psp: Psp, amount: object, currency: str) -> None:
    # given an open session
    session = psp.create_session()
    # when a payment names a malformed amount
    answer = psp.pay(session, amount=amount, currency=currency)
    # then it is invalid_amount, before the session is even compared
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_amount"


@pytest.mark.parametrize("currency", BAD_CURRENCIES)
def test_an_unknown_or_lower_case_currency_is_invalid_currency(psp: Psp, currency: object) -> None:
    # given a currency the sandbox does not support (or spelled in lower case)
    # when a session is registered with it
    answer = psp.post("/v1/sessions", _session_body("12.50", currency))
    # then it is invalid_currency
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_currency"


def test_refunded_amount_has_the_currency_format_even_when_zero(psp: Psp) -> None:
    # given payments in currencies with 0, 2 and 3 digits
    for amount, currency, zero in [
        ("1200", "JPY", "0"),
        ("12.50", "EUR", "0.00"),
        ("1.250", "KWD", "0.000"),
    ]:
        session = psp.create_session(amount, currency)
        # when one is paid
        payment = psp.pay(session).json()
        # then its refunded_amount is a zero in the same format
        assert payment["refunded_amount"] == zero
