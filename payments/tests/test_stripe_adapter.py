"""The Stripe adapter at its HTTP boundary: every row of the mapping in payments/psp/stripe.py's docstring,
served with Stripe's documented objects (payments/tests/stripe_objects.py) through `responses`. No database."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from payments.psp.stripe import StripePsp, from_minor_units, to_minor_units
from payments.psp.types import CallRecord, PspNotFound, PspPayment, PspRejected, PspUnavailable
from payments.tests import stripe_objects as so

API = "https://api.stripe.com/v1"
INTENT = f"{API}/payment_intents/{so.PI_ID}"
CONFIRM = f"{INTENT}/confirm"
REFUNDS = f"{API}/refunds"
SECRET_KEY = "sk_test_51PgafyB7WZ01zgkWq0aJ2z3xVbNmK8sLdE4rT6yU"
CLIENT_SECRET = so.payment_intent()["client_secret"]
CHECKOUT_ID = "6f1c2d8e-5b7a-4c39-9e0f-2a1b3c4d5e6f"
ATTEMPT_ID = "0b9e2a4c-7d15-4f8e-a3c6-1e2d3f4a5b6c"
KEY = f"bps-payment-{ATTEMPT_ID}"
RETURN_URL = f"http://127.0.0.1:8000/checkout/{CHECKOUT_ID}/return/"
OURS = {"attempt_id": ATTEMPT_ID, "checkout_id": CHECKOUT_ID}
# A read asks for the PaymentIntent alone: no `expand[]` (the charge's amount_refunded is never used).
NO_QUERY = matchers.query_param_matcher({})


def _paid(**fields: Any) -> dict[str, Any]:
    """A succeeded PaymentIntent as Stripe sends it when nothing is expanded: `latest_charge` is the Charge's id."""
    return so.pi_succeeded(latest_charge=so.CHARGE_ID, **fields)


@pytest.fixture
def records() -> list[CallRecord]:
    return []


@pytest.fixture
def adapter(records: list[CallRecord]) -> StripePsp:
    return StripePsp(secret_key=SECRET_KEY, api_base="https://api.stripe.com", timeout=2, max_attempts=3, backoff=0,
                     observer=records.append)


@pytest.fixture
def api():  # type: ignore[no-untyped-def]
    """Stripe, as `responses` serves it; every answer registered must have been asked for."""
    with responses.RequestsMock() as mock:
        yield mock


def _form(**fields: str) -> Any:
    return matchers.urlencoded_params_matcher(fields)


def _key(key: str) -> Any:
    return matchers.header_matcher({"Idempotency-Key": key})


def _create_session(adapter: StripePsp, amount: str = "12.50", currency: str = "EUR", description: str = "Order 1042"):
    return adapter.create_session(checkout_id=CHECKOUT_ID, amount=Decimal(amount), currency=currency,
                                  description=description, idempotency_key=f"bps-session-{CHECKOUT_ID}",
                                  context={"checkout_id": CHECKOUT_ID})


def _pay(adapter: StripePsp, amount: str = "10.99", currency: str = "USD",
         payment_method: str = "pm_card_visa") -> PspPayment:
    return adapter.create_payment(
        token=so.PI_ID, amount=Decimal(amount), currency=currency, payment_method=payment_method,
        redirect_url=RETURN_URL, webhook_url="http://127.0.0.1:8000/webhooks/psp/", metadata={"attempt_id": ATTEMPT_ID},
        idempotency_key=KEY, context={"checkout_id": CHECKOUT_ID, "attempt_id": ATTEMPT_ID},
    )


def _updated(api: responses.RequestsMock) -> None:
    """Stripe takes the payment method and our attempt id: `requires_confirmation`, nothing sent to the card yet."""
    api.post(INTENT, json=so.pi_requires_confirmation(metadata=OURS),
             match=[_form(payment_method="pm_card_visa", **{"metadata[attempt_id]": ATTEMPT_ID}),
                    _key(f"{KEY}-method")])


def _keys(api: responses.RequestsMock) -> list[tuple[str, str, str]]:
    return [(call.request.method, call.request.url, call.request.headers.get("Idempotency-Key", ""))
            for call in api.calls]


# --- create_session: checkout ↔ PaymentIntent ------------------------------------------------


def test_a_checkout_is_registered_as_a_payment_intent_keyed_by_the_checkout(adapter, api):
    # given Stripe creates the PaymentIntent we describe, and only that one
    api.post(f"{API}/payment_intents", json=so.payment_intent(amount=1250, currency="eur",
                                                              metadata={"checkout_id": CHECKOUT_ID}),
             match=[_form(amount="1250", currency="eur", description="Order 1042",
                          **{"automatic_payment_methods[enabled]": "true", "metadata[checkout_id]": CHECKOUT_ID}),
                    _key(f"bps-session-{CHECKOUT_ID}")])
    # when the checkout is registered
    session = _create_session(adapter)
    # then the PaymentIntent's id is the checkout's token, and nothing was paid yet
    assert (session.token, session.checkout_id, session.amount, session.currency, session.status) == (
        so.PI_ID, CHECKOUT_ID, Decimal("12.50"), "EUR", "open")
    assert session.latest_payment is None


def test_a_checkout_without_description_sends_none(adapter, api):
    api.post(f"{API}/payment_intents", json=so.payment_intent(amount=1250, currency="eur"),
             match=[_form(amount="1250", currency="eur",
                          **{"automatic_payment_methods[enabled]": "true", "metadata[checkout_id]": CHECKOUT_ID})])
    assert _create_session(adapter, description="").token == so.PI_ID


# --- amounts ↔ Stripe's minor units (docs/stripe-currencies.md) --------------------------------

AMOUNTS = [
    # amount, currency, what Stripe gets and gives back
    ("1500", "JPY", 1500),  # zero-decimal
    ("12.50", "EUR", 1250),
    ("0.50", "EUR", 50),
    ("12.340", "KWD", 12340),  # three-decimal, last digit 0
    ("0.010", "KWD", 10),
]


@pytest.mark.parametrize(("amount", "currency", "minor"), AMOUNTS)
def test_amounts_go_to_stripe_in_its_minor_units_and_come_back_exactly(adapter, api, amount, currency, minor):
    api.post(f"{API}/payment_intents", json=so.payment_intent(amount=minor, currency=currency.lower()),
             match=[_form(amount=str(minor), currency=currency.lower(), description="Order 1042",
                          **{"automatic_payment_methods[enabled]": "true", "metadata[checkout_id]": CHECKOUT_ID})])
    session = _create_session(adapter, amount=amount, currency=currency)
    # exactly the same Decimal, digits included ("12.340", not "12.34")
    assert (str(session.amount), session.currency) == (amount, currency)


@pytest.mark.parametrize(("amount", "currency", "minor"), AMOUNTS)
def test_minor_units_convert_both_ways_without_rounding(amount, currency, minor):
    assert to_minor_units(Decimal(amount), currency) == minor
    assert str(from_minor_units(minor, currency)) == amount


@pytest.mark.parametrize(
    "send",
    [
        pytest.param(lambda adapter: _create_session(adapter, amount="12.345", currency="KWD"), id="create_session"),
        pytest.param(lambda adapter: _pay(adapter, amount="12.345", currency="KWD"), id="create_payment"),
        pytest.param(lambda adapter: adapter.create_refund(
            payment_id=so.PI_ID, amount=Decimal("12.345"), currency="KWD", reason="", idempotency_key="bps-refund-1",
            context={}), id="create_refund"),
    ],
)
def test_a_kwd_amount_stripe_cannot_take_is_refused_before_anything_is_sent(adapter, api, records, send):
    # Stripe wants three-decimal amounts in steps of 0.010: 12.345 would have to be rounded, i.e. another amount
    with pytest.raises(PspRejected) as refused:
        send(adapter)
    assert (refused.value.status_code, refused.value.code) == (400, "invalid_amount")
    assert len(api.calls) == 0 and records == []


@pytest.mark.parametrize(("amount", "currency"), [("12.5", "JPY"), ("12.505", "EUR"), ("1.2345", "KWD")])
def test_an_amount_with_more_digits_than_stripe_takes_is_refused(amount, currency):
    with pytest.raises(PspRejected) as refused:
        to_minor_units(Decimal(amount), currency)
    assert refused.value.code == "invalid_amount"


# --- create_payment: Buy Now ↔ update, then a server-side confirmation -----------------------


def test_buy_now_sets_the_payment_method_and_attempt_then_confirms_with_our_return_page(adapter, api):
    # given Stripe takes the update, and the confirmation succeeds
    _updated(api)
    api.post(CONFIRM, json=_paid(metadata=OURS), match=[_form(return_url=RETURN_URL), _key(KEY)])
    # when the shopper pays
    payment = _pay(adapter)
    # then the update went first under its own key, the confirmation (our return page only, nothing expanded)
    # under the attempt's key
    assert _keys(api) == [("POST", INTENT, f"{KEY}-method"), ("POST", CONFIRM, KEY)]
    assert payment == PspPayment(
        id=so.PI_ID, token=so.PI_ID, amount=Decimal("10.99"), currency="USD", payment_method=so.PM_ID,
        status="succeeded", version=4, refunded_amount=Decimal("0"), metadata=OURS,
    )


def test_a_decline_on_confirm_is_a_failed_payment_read_from_the_error(adapter, api):
    # given Stripe declines the card: 402, with the PaymentIntent as it now is
    _updated(api)
    api.post(CONFIRM, status=402, json=so.card_declined_body("insufficient_funds", metadata=OURS), match=[_key(KEY)])
    # when the shopper pays
    payment = _pay(adapter)
    # then it is the payment's outcome, not a refusal, and the confirmation was neither retried nor re-read
    assert (payment.status, payment.failure_code, payment.version) == ("failed", "insufficient_funds", 3)
    assert payment.failure_message == so.DECLINE_MESSAGES["insufficient_funds"]
    assert (payment.payment_method, payment.metadata) == (so.PM_ID, OURS)
    assert [method for method, _url, _key_sent in _keys(api)] == ["POST", "POST"]


def test_a_decline_whose_error_names_no_payment_intent_is_read_from_stripe(adapter, api):
    # given a 402 that carries the decline but not the PaymentIntent
    _updated(api)
    error = so.card_declined_error("generic_decline")
    body = so.error_body(error.pop("type"), error.pop("code"), error.pop("message"), **error)
    api.post(CONFIRM, status=402, json=body)
    api.get(INTENT, json=so.pi_declined("generic_decline", metadata=OURS), match=[NO_QUERY])
    # when the shopper pays
    payment = _pay(adapter)
    # then the PaymentIntent, read once, says which attempt failed and why
    assert (payment.status, payment.failure_code, payment.metadata) == ("failed", "generic_decline", OURS)
    assert [(method, url.split("?")[0]) for method, url, _key_sent in _keys(api)] == [
        ("POST", INTENT), ("POST", CONFIRM), ("GET", INTENT)]


def test_a_confirmation_that_needs_3d_secure_sends_the_browser_to_stripes_redirect(adapter, api):
    redirect = f"https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1&payment_intent={so.PI_ID}"
    _updated(api)
    api.post(CONFIRM, json=so.pi_requires_action(url=redirect, return_url=RETURN_URL, metadata=OURS))
    payment = _pay(adapter)
    assert (payment.status, payment.action_url, payment.version) == ("requires_action", redirect, 1)


# --- get_payment: every PaymentIntent state, mapped ---------------------------------------------

DECLINED_MESSAGE = so.DECLINE_MESSAGES["insufficient_funds"]
STATES = [
    # case, PaymentIntent, status, version, failure_code
    ("requires_action", so.pi_requires_action(metadata=OURS), "requires_action", 1, None),
    ("processing", so.pi_processing(metadata=OURS), "pending", 2, None),
    ("succeeded", _paid(metadata=OURS), "succeeded", 4, None),
    # even with the Charge expanded (Stripe sends it only when asked to): its amount_refunded counts pending refunds
    # too, so it is neither a refunded amount nor a newer version
    ("succeeded, charge shows 5.00 refunded", so.pi_succeeded(amount_refunded=500, metadata=OURS), "succeeded", 4,
     None),
    ("succeeded, charge shows all refunded", so.pi_succeeded(amount_refunded=1099, metadata=OURS), "succeeded", 4,
     None),
    ("declined: decline_code", so.pi_declined("insufficient_funds", metadata=OURS), "failed", 3, "insufficient_funds"),
    ("declined: another decline_code", so.pi_declined("lost_card", metadata=OURS), "failed", 3, "lost_card"),
    ("3-D Secure failed: code", so.pi_authentication_failed(metadata=OURS), "failed", 3,
     "payment_intent_authentication_failure"),
    ("canceled", so.pi_canceled("abandoned", metadata=OURS), "failed", 3, "abandoned"),
    ("canceled as fraudulent", so.pi_canceled("fraudulent", metadata=OURS), "failed", 3, "fraudulent"),
]


@pytest.mark.parametrize(("intent", "status", "version", "failure_code"),
                         [case[1:] for case in STATES], ids=[case[0] for case in STATES])
def test_each_payment_intent_state_maps_to_our_payment(adapter, api, intent, status, version, failure_code):
    api.get(INTENT, json=intent, match=[NO_QUERY])
    payment = adapter.get_payment(so.PI_ID, context={})
    assert (payment.id, payment.token, payment.amount, payment.currency) == (so.PI_ID, so.PI_ID, Decimal("10.99"),
                                                                            "USD")
    assert (payment.status, payment.version, payment.failure_code) == (status, version, failure_code)
    # refunded amounts come from Stripe's Refund objects alone, never from a PaymentIntent
    assert payment.refunded_amount == Decimal(0)
    assert payment.metadata == OURS
    assert payment.action_url == (intent["next_action"]["redirect_to_url"]["url"] if status == "requires_action"
                                  else None)
    assert (payment.failure_message is None) == (failure_code is None)


def test_versions_follow_the_one_way_a_confirmation_moves(adapter, api):
    # given the same PaymentIntent read at each step of a confirmation's life, a decline before a success
    steps = [so.pi_requires_action(), so.pi_processing(), so.pi_declined(), _paid()]
    for intent in steps:
        api.get(INTENT, json=intent)
    versions = [adapter.get_payment(so.PI_ID, context={}).version for _ in steps]
    # then each later step is a higher version, so a late read can never undo a newer one; and a success is newer
    # than a decline (4 > 3), so it reaches the contradiction check instead of being dropped as not newer
    assert versions == [1, 2, 3, 4]
    # and a cancellation is a failure like a decline
    api.replace(responses.GET, INTENT, json=so.pi_canceled())
    assert adapter.get_payment(so.PI_ID, context={}).version == 3
    # and refunds never move the version: the charge's amount_refunded is not read
    for amount_refunded in (100, 1099):
        api.replace(responses.GET, INTENT, json=so.pi_succeeded(amount_refunded=amount_refunded))
        later = adapter.get_payment(so.PI_ID, context={})
        assert (later.version, later.refunded_amount) == (4, Decimal(0))


@pytest.mark.parametrize("intent", [so.pi_requires_payment_method(), so.pi_requires_confirmation(metadata=OURS)],
                         ids=["fresh", "updated, not confirmed"])
def test_a_payment_intent_with_no_confirmation_shows_no_payment(adapter, api, intent):
    api.get(INTENT, json=intent)
    api.get(INTENT, json=intent)
    assert adapter.get_session(so.PI_ID, context={}).latest_payment is None
    with pytest.raises(PspNotFound):
        adapter.get_payment(so.PI_ID, context={})


def test_a_session_read_shows_the_latest_confirmation(adapter, api):
    api.get(INTENT, json=so.pi_processing(metadata=OURS), match=[NO_QUERY])
    session = adapter.get_session(so.PI_ID, context={})
    assert session.latest_payment is not None
    assert (session.token, session.status, session.latest_payment.status) == (so.PI_ID, "open", "pending")


# --- refunds ↔ Stripe Refunds ---------------------------------------------------------------------


def test_a_refund_is_created_for_the_payment_intent_in_minor_units_with_staffs_reason_in_metadata(adapter, api):
    api.post(REFUNDS, json=so.refund_pending(amount=500, metadata={"reason": "asked by phone"}),
             match=[_form(payment_intent=so.PI_ID, amount="500", **{"metadata[reason]": "asked by phone"}),
                    _key("bps-refund-7")])
    refund = adapter.create_refund(payment_id=so.PI_ID, amount=Decimal("5.00"), currency="USD",
                                   reason="asked by phone", idempotency_key="bps-refund-7", context={})
    assert (refund.id, refund.payment_id, refund.amount, refund.currency, refund.status, refund.reason) == (
        so.REFUND_ID, so.PI_ID, Decimal("5.00"), "USD", "pending", "asked by phone")


def test_a_refund_without_a_reason_sends_no_metadata(adapter, api):
    api.post(REFUNDS, json=so.refund_succeeded(), match=[_form(payment_intent=so.PI_ID, amount="1099")])
    refund = adapter.create_refund(payment_id=so.PI_ID, amount=Decimal("10.99"), currency="USD", reason="",
                                   idempotency_key="bps-refund-8", context={})
    assert (refund.status, refund.reason) == ("succeeded", None)


@pytest.mark.parametrize(
    ("refund", "status"),
    [
        (so.refund_pending(), "pending"),
        (so.refund_requires_action(), "pending"),  # Stripe waits for the customer: not final
        (so.refund_succeeded(), "succeeded"),
        (so.refund_failed(), "failed"),
        (so.refund_canceled(), "failed"),  # no money moved
    ],
    ids=["pending", "requires_action", "succeeded", "failed", "canceled"],
)
def test_each_refund_status_maps_to_ours(adapter, api, refund, status):
    api.get(f"{REFUNDS}/{so.REFUND_ID}", json=refund)
    answer = adapter.get_refund(so.REFUND_ID, context={})
    assert (answer.id, answer.payment_id, answer.amount, answer.status) == (
        so.REFUND_ID, so.PI_ID, Decimal("10.99"), status)
    assert _keys(api) == [("GET", f"{REFUNDS}/{so.REFUND_ID}", "")]  # a read carries no key


# --- errors, retries and keys ------------------------------------------------------------------------


def test_an_idempotency_error_is_a_refusal_and_is_not_retried(adapter, api):
    api.post(CONFIRM, status=400, json=so.idempotency_error_body(KEY))
    _updated(api)
    with pytest.raises(PspRejected) as refused:
        _pay(adapter)
    assert type(refused.value) is PspRejected and refused.value.status_code == 400
    assert [url for _method, url, _key_sent in _keys(api)] == [INTENT, CONFIRM]


@pytest.mark.parametrize(
    ("status", "body"),
    [(429, so.rate_limit_body()), (500, so.api_error_body()), (503, so.api_error_body()),
     (409, so.idempotency_key_in_use_body(KEY))],
    ids=["rate limit 429", "api_error 500", "api_error 503", "key in use 409"],
)
def test_an_answer_that_says_try_again_is_retried_with_the_same_key_then_unavailable(
    adapter, api, records, status, body
):
    # given Stripe answers every confirmation this way
    _updated(api)
    api.post(CONFIRM, status=status, json=body)
    # when the shopper pays
    with pytest.raises(PspUnavailable):
        _pay(adapter)
    # then the confirmation was tried max_attempts times, always under the attempt's own key
    assert _keys(api) == [("POST", INTENT, f"{KEY}-method")] + [("POST", CONFIRM, KEY)] * 3
    assert [record.status_code for record in records] == [200, status, status, status]


@pytest.mark.parametrize(
    "first",
    [
        {"status": 429, "json": so.rate_limit_body()},
        {"status": 500, "json": so.api_error_body()},
        {"status": 409, "json": so.idempotency_key_in_use_body(f"bps-session-{CHECKOUT_ID}")},
        {"body": requests.ConnectionError("connection reset by peer")},
        {"body": requests.ReadTimeout("read timed out")},
    ],
    ids=["429", "500", "409", "connection reset", "read timeout"],
)
def test_a_retry_after_a_lost_or_refused_try_carries_the_same_key_and_succeeds(adapter, api, first):
    api.add(responses.POST, f"{API}/payment_intents", **first)
    api.post(f"{API}/payment_intents", json=so.payment_intent(amount=1250, currency="eur"))
    session = _create_session(adapter)
    assert session.token == so.PI_ID
    key = f"bps-session-{CHECKOUT_ID}"
    assert _keys(api) == [("POST", f"{API}/payment_intents", key)] * 2


def test_a_lost_confirmation_is_sent_again_with_the_same_key(adapter, api, records):
    # given the confirmation's first answer is lost on the wire
    _updated(api)
    api.post(CONFIRM, body=requests.ConnectionError("connection reset by peer"))
    api.post(CONFIRM, json=_paid(metadata=OURS), match=[_key(KEY)])
    # when the shopper pays
    payment = _pay(adapter)
    # then the second try, under the same key, brought the answer: Stripe could confirm at most once
    assert payment.status == "succeeded"
    assert _keys(api) == [("POST", INTENT, f"{KEY}-method"), ("POST", CONFIRM, KEY), ("POST", CONFIRM, KEY)]
    lost = records[1]
    assert (lost.status_code, lost.response_body, lost.idempotency_key) == (None, None, KEY)
    assert "ConnectionError" in lost.error


def test_a_network_error_on_every_try_is_unavailable(adapter, api):
    api.post(f"{API}/payment_intents", body=requests.ConnectionError("no route to host"))
    with pytest.raises(PspUnavailable):
        _create_session(adapter)
    assert len(api.calls) == 3


def test_a_refused_api_key_is_an_operator_problem_not_a_refusal_of_the_payment(adapter, api):
    # 401: nothing is wrong with the payment; saying "rejected" would fail the shopper's attempt for our mistake
    api.post(f"{API}/payment_intents", status=401, json=so.invalid_api_key_body(SECRET_KEY[-4:]))
    with pytest.raises(PspUnavailable):
        _create_session(adapter)
    assert len(api.calls) == 1


def test_a_payment_intent_stripe_does_not_know_is_not_found(adapter, api):
    api.get(INTENT, status=404, json=so.resource_missing_body())
    with pytest.raises(PspNotFound) as missing:
        adapter.get_payment(so.PI_ID, context={})
    assert (missing.value.code, len(api.calls)) == ("resource_missing", 1)


def test_an_invalid_request_is_a_refusal_with_stripes_code(adapter, api):
    api.post(f"{API}/payment_intents", status=400,
             json=so.error_body("invalid_request_error", "amount_too_small",
                                "Amount must be at least €0.50 eur", param="amount"))
    with pytest.raises(PspRejected) as refused:
        _create_session(adapter, amount="0.10")
    assert (type(refused.value), refused.value.status_code, refused.value.code) == (PspRejected, 400,
                                                                                   "amount_too_small")
    assert len(api.calls) == 1


# --- payment methods ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payment_method", "accepted"),
    [
        ("pm_card_visa", True), (so.PM_ID, True), ("pm_card_visa_chargeDeclinedInsufficientFunds", True),
        ("pm_" + "a" * 61, True),  # 64 characters: our column's width
        ("pm_" + "a" * 62, False), ("pm_" + "a" * 67, False), ("card_4242", False), ("pm_", False),
        ("pm_card visa", False), ("pm_card-visa", False), ("tok_visa", False), ("PM_card_visa", False), ("", False),
        ("pm_card_visa\n", False),
    ],
)
def test_only_stripe_payment_method_ids_are_accepted(adapter, payment_method, accepted):
    assert adapter.accepts_payment_method(payment_method) is accepted


# --- the observer: one record per exchange, nothing secret -----------------------------------------


def test_every_exchange_is_recorded_once_retries_included(adapter, api, records):
    _updated(api)
    api.post(CONFIRM, status=500, json=so.api_error_body())
    api.post(CONFIRM, body=requests.ConnectionError("connection reset by peer"))
    api.post(CONFIRM, json=_paid(metadata=OURS))
    _pay(adapter)
    assert [(record.method, record.path, record.idempotency_key, record.status_code) for record in records] == [
        ("POST", f"/v1/payment_intents/{so.PI_ID}", f"{KEY}-method", 200),
        ("POST", f"/v1/payment_intents/{so.PI_ID}/confirm", KEY, 500),
        ("POST", f"/v1/payment_intents/{so.PI_ID}/confirm", KEY, None),
        ("POST", f"/v1/payment_intents/{so.PI_ID}/confirm", KEY, 200),
    ]
    assert records[0].request_body == {"payment_method": "pm_card_visa", "metadata[attempt_id]": ATTEMPT_ID}
    assert records[3].request_body == {"return_url": RETURN_URL}
    assert all(record.context == {"checkout_id": CHECKOUT_ID, "attempt_id": ATTEMPT_ID} for record in records)


def test_records_hold_neither_the_secret_key_nor_a_client_secret(adapter, api, records):
    # given exchanges whose answers all carry the PaymentIntent's client_secret (the 402 inside its error)
    api.post(f"{API}/payment_intents", json=so.payment_intent(amount=1250, currency="eur"))
    _updated(api)
    api.post(CONFIRM, status=402, json=so.card_declined_body(metadata=OURS))
    api.get(INTENT, json=_paid(metadata=OURS))
    api.post(f"{API}/payment_intents", status=401, json=so.invalid_api_key_body(SECRET_KEY[-4:]))
    # when they are made
    _create_session(adapter)
    _pay(adapter)
    adapter.get_payment(so.PI_ID, context={})
    with pytest.raises(PspUnavailable):
        _create_session(adapter)
    # then the timeline could show every record, and neither secret appears in any of them
    assert len(records) == 5
    shown = json.dumps([record.__dict__ for record in records], ensure_ascii=False)
    assert SECRET_KEY not in shown
    assert CLIENT_SECRET not in shown and "_secret_" not in shown
    assert records[0].response_body["client_secret"] == "…" + CLIENT_SECRET[-4:]
    assert records[2].response_body["error"]["payment_intent"]["client_secret"] == "…" + CLIENT_SECRET[-4:]
    # (the SDK did send the key, in a header no record keeps)
    assert api.calls[0].request.headers["Authorization"] == f"Bearer {SECRET_KEY}"


def test_records_hold_no_client_secret_even_inside_the_3d_secure_redirect_url(adapter, api, records):
    # given Stripe's hosted 3-D Secure page, whose URL names the PaymentIntent's client secret in its query (as
    # published next_action.redirect_to_url.url values show: payment_intent_client_secret=pi_…_secret_…)
    redirect = (f"https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1&payment_intent={so.PI_ID}"
                f"&payment_intent_client_secret={CLIENT_SECRET}")
    _updated(api)
    api.post(CONFIRM, json=so.pi_requires_action(url=redirect, return_url=RETURN_URL, metadata=OURS))
    # when the confirmation asks for 3-D Secure
    payment = _pay(adapter)
    # then the browser is still sent to the whole URL, but the timeline's records never show the client secret
    assert payment.action_url == redirect
    shown = json.dumps([record.__dict__ for record in records], ensure_ascii=False)
    assert CLIENT_SECRET not in shown
