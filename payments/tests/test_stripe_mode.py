"""PSP_PROVIDER=stripe through the real services: checkouts, Buy Now, polls and refunds, with Stripe replaced at its
HTTP boundary (`responses`) by the documented objects of payments/tests/stripe_objects.py."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
import responses
from responses import matchers

from checkout.models import Checkout
from checkout.services import checkout_create
from checkout.tests.factories import make_storefront
from payments import gateway
from payments.attempt_lifecycle import attempt_sync
from payments.buy_now import attempt_buy_now
from payments.errors import DomainError
from payments.models import PaymentAttempt, PspCall, Refund, StatusChange
from payments.psp.stripe import to_minor_units
from payments.refunds import refund_create, refund_sync
from payments.states import AttemptStatus, CheckoutStatus, RefundStatus
from payments.tests import stripe_objects as so
from payments.transitions import Cause
from paysite.site import site_url

pytestmark = pytest.mark.django_db

API = "https://api.stripe.com/v1"
INTENT = f"{API}/payment_intents/{so.PI_ID}"
CONFIRM = f"{INTENT}/confirm"
SECRET_KEY = "sk_test_51PgafyB7WZ01zgkWq0aJ2z3xVbNmK8sLdE4rT6yU"
REDIRECT = f"https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1&payment_intent={so.PI_ID}"
POLL = Cause(kind="poll")


@pytest.fixture
def api(settings):  # type: ignore[no-untyped-def]
    """Stripe mode, with Stripe served by `responses`: every answer registered must have been asked for."""
    settings.PSP_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_51PgafyB7WZ01zgkWpUbLiShAbLe"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH"
    settings.STRIPE_API_BASE = ""  # the SDK's own: https://api.stripe.com
    gateway._clients.clear()
    with responses.RequestsMock() as mock:
        yield mock
    gateway._clients.clear()


class PaymentIntentAtStripe:
    """One checkout's PaymentIntent as Stripe serves it: a documented object (stripe_objects) for the checkout's
    amount, holding the metadata our last update set, as Stripe keeps it between requests."""

    def __init__(self, api: responses.RequestsMock, checkout: Checkout):
        self.api, self.checkout = api, checkout
        self.metadata = {"checkout_id": str(checkout.id)}

    def fields(self) -> dict[str, Any]:
        """What Stripe's objects for this PaymentIntent say of it: its id, amount, currency and metadata."""
        return {"id": self.checkout.psp_token, "amount": to_minor_units(self.checkout.amount, self.checkout.currency),
                "currency": self.checkout.currency.lower(), "metadata": dict(self.metadata)}

    def object(self, build: Callable[..., dict[str, Any]] = so.payment_intent, **fields: Any) -> dict[str, Any]:
        return build(**{**self.fields(), **fields})

    def _serve(self, method: str, url: str, answer: Callable[[Any], tuple[int, dict[str, Any]]]) -> None:
        def callback(request: Any) -> tuple[int, dict[str, str], str]:
            status, body = answer(request)
            return status, {}, json.dumps(body)

        self.api.add_callback(method, url, callback=callback, content_type="application/json")

    def takes_updates(self) -> None:
        def update(request: Any) -> tuple[int, dict[str, Any]]:
            sent = dict(parse_qsl(request.body))
            self.metadata |= {name[9:-1]: value for name, value in sent.items() if name.startswith("metadata[")}
            return 200, self.object(so.pi_requires_confirmation)

        self._serve(responses.POST, INTENT, update)

    def confirms(self, build: Callable[..., dict[str, Any]], **fields: Any) -> None:
        self.api.remove(responses.POST, CONFIRM)
        self._serve(responses.POST, CONFIRM, lambda request: (200, self.object(build, **fields)))

    def declines(self, decline_code: str) -> None:
        self.api.remove(responses.POST, CONFIRM)
        self._serve(responses.POST, CONFIRM,
                    lambda request: (402, so.card_declined_body(decline_code, **self.fields())))

    def loses_confirmations(self) -> None:
        self.api.remove(responses.POST, CONFIRM)
        self.api.post(CONFIRM, body=requests.ConnectionError("connection reset by peer"))

    def shows(self, build: Callable[..., dict[str, Any]], **fields: Any) -> None:
        self.api.remove(responses.GET, INTENT)
        self._serve(responses.GET, INTENT, lambda request: (200, self.object(build, **fields)))


def _create_answered(api: responses.RequestsMock, checkout_id: uuid.UUID, amount: int, currency: str) -> None:
    intent = so.payment_intent(amount=amount, currency=currency, description="Order 1042",
                               metadata={"checkout_id": str(checkout_id)})
    api.post(f"{API}/payment_intents", json=intent, match=[
        matchers.urlencoded_params_matcher({
            "amount": str(amount), "currency": currency, "description": "Order 1042",
            "automatic_payment_methods[enabled]": "true", "metadata[checkout_id]": str(checkout_id)}),
        matchers.header_matcher({"Idempotency-Key": f"bps-session-{checkout_id}"}),
    ])


def _checkout(api: responses.RequestsMock, amount: str = "12.50", currency: str = "EUR") -> PaymentIntentAtStripe:
    checkout_id = uuid.uuid4()
    _create_answered(api, checkout_id, to_minor_units(Decimal(amount), currency), currency.lower())
    checkout = checkout_create(amount=Decimal(amount), currency=currency, storefront=make_storefront(),
                               description="Order 1042", checkout_id=checkout_id, cause=Cause(kind="api"))
    stripe = PaymentIntentAtStripe(api, checkout)
    stripe.takes_updates()
    return stripe


def _buy(client: Any, checkout: Checkout, method: str = "pm_card_visa") -> Any:
    body = {"token": checkout.psp_token, "payment_method": method}
    return client.post(f"/api/checkouts/{checkout.id}/buy-now/", data=json.dumps(body),
                       content_type="application/json")


def _sent(api: responses.RequestsMock, since: int = 0) -> list[tuple[str, str, str]]:
    """(method, path, Idempotency-Key) of each request Stripe got."""
    return [(call.request.method, call.request.path_url.split("?")[0].removeprefix("/v1"),
             call.request.headers.get("Idempotency-Key", "")) for call in api.calls[since:]]


UPDATE, CONFIRMATION = f"/payment_intents/{so.PI_ID}", f"/payment_intents/{so.PI_ID}/confirm"


# --- checkouts -----------------------------------------------------------------------------------------


def test_a_checkout_is_a_payment_intent_whose_id_is_its_token(api):
    # given Stripe creates the PaymentIntent for 12.50 EUR (checked field by field in `_create_answered`)
    checkout_id = uuid.uuid4()
    _create_answered(api, checkout_id, 1250, "eur")
    # when the storefront starts a checkout
    checkout = checkout_create(amount=Decimal("12.50"), currency="EUR", storefront=make_storefront(),
                               description="Order 1042", checkout_id=checkout_id, cause=Cause(kind="api"))
    # then the checkout holds the PaymentIntent's id as its token and says Stripe holds it
    checkout.refresh_from_db()
    assert (checkout.psp_token, checkout.psp_provider, checkout.status) == (so.PI_ID, "stripe", CheckoutStatus.OPEN)
    call = PspCall.objects.get(checkout_id=checkout_id)
    assert (call.method, call.path, call.idempotency_key, call.status_code) == (
        "POST", "/v1/payment_intents", f"bps-session-{checkout_id}", 200)
    assert call.response_body["client_secret"] == "…" + so.payment_intent()["client_secret"][-4:]


def _post_checkout(api_client: Any, amount: str, currency: str) -> Any:
    body = {"amount": amount, "currency": currency, "description": "Order 1042", "reference": "order-1042"}
    return api_client.post("/api/checkouts/", data=json.dumps(body), content_type="application/json")


def test_a_kwd_amount_stripe_cannot_take_is_a_400_and_nothing_is_stored(api, api_client):
    # given a KWD price the shop allows (three decimals) but Stripe cannot take (its last digit must be 0)
    # when the storefront starts a checkout for it
    response = _post_checkout(api_client, "12.345", "KWD")
    # then it is told why, and neither Stripe nor our database saw anything
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_amount" and "amount" in error["fields"]
    assert len(api.calls) == 0
    assert (Checkout.objects.count(), PspCall.objects.count()) == (0, 0)


def test_a_kwd_amount_in_steps_of_ten_fils_is_a_checkout(api, api_client):
    api.post(f"{API}/payment_intents", json=so.payment_intent(amount=12340, currency="kwd"))
    response = _post_checkout(api_client, "12.340", "KWD")
    assert response.status_code == 201
    assert (response.json()["amount"], response.json()["token"]) == ("12.340", so.PI_ID)
    sent = dict(parse_qsl(api.calls[0].request.body))
    assert (sent["amount"], sent["currency"]) == ("12340", "kwd")


# --- Buy Now ↔ update, then a server-side confirmation --------------------------------------------------


def test_buy_now_with_a_card_that_pays_succeeds_on_the_checkouts_payment_intent(api, client):
    # given a checkout, and Stripe confirming its PaymentIntent
    stripe = _checkout(api)
    stripe.confirms(so.pi_succeeded)
    checkout = stripe.checkout
    # when the shopper pays with Stripe's test Visa
    response = _buy(client, checkout, "pm_card_visa")
    # then the attempt succeeded and the checkout is paid
    assert response.status_code == 201
    attempt = PaymentAttempt.objects.get()
    assert response.json()["attempt"] == {"id": str(attempt.id), "status": "succeeded", "failure_code": None}
    assert response.json()["redirect_url"] == site_url("checkout-result", checkout.id)
    assert (attempt.psp_payment_id, attempt.psp_version) == (so.PI_ID, 4)
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.PAID
    # and Stripe got the payment method and our attempt, then the confirmation with our return page (nothing expanded)
    key = attempt.idempotency_key
    assert _sent(api, 1) == [("POST", UPDATE, f"{key}-method"), ("POST", CONFIRMATION, key)]
    update, confirm = (dict(parse_qsl(call.request.body)) for call in api.calls[1:])
    assert update == {"payment_method": "pm_card_visa", "metadata[attempt_id]": str(attempt.id),
                      "metadata[checkout_id]": str(checkout.id)}
    assert confirm == {"return_url": site_url("checkout-return", checkout.id)}
    # and both calls are on the attempt's timeline
    assert list(PspCall.objects.filter(attempt_id=attempt.id).order_by("id").values_list("path", "status_code")) == [
        (f"/v1{UPDATE}", 200), (f"/v1{CONFIRMATION}", 200)]


def test_a_decline_fails_the_attempt_with_its_decline_code_and_another_buy_now_pays_the_same_payment_intent(
    api, client
):
    # given a card that Stripe declines for insufficient funds
    stripe = _checkout(api)
    stripe.declines("insufficient_funds")
    checkout = stripe.checkout
    # when the shopper pays with it
    declined = _buy(client, checkout, "pm_card_visa_chargeDeclinedInsufficientFunds")
    # then the attempt failed with Stripe's decline code and the checkout can be paid again
    assert declined.status_code == 201
    assert declined.json()["attempt"]["status"] == "failed"
    assert declined.json()["attempt"]["failure_code"] == "insufficient_funds"
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.OPEN
    # when the shopper tries another card, which Stripe charges
    stripe.confirms(so.pi_succeeded)
    paid = _buy(client, checkout, "pm_card_visa")
    # then a second attempt paid the same PaymentIntent, and the first stays failed
    assert paid.status_code == 201 and paid.json()["attempt"]["status"] == "succeeded"
    first, second = PaymentAttempt.objects.order_by("created_at")
    assert (first.status, first.failure_code, second.status) == (AttemptStatus.FAILED, "insufficient_funds",
                                                                 AttemptStatus.SUCCEEDED)
    assert first.psp_payment_id == second.psp_payment_id == checkout.psp_token
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.PAID
    # and each attempt went to Stripe under its own keys
    assert _sent(api, 1) == [
        ("POST", UPDATE, f"{first.idempotency_key}-method"), ("POST", CONFIRMATION, first.idempotency_key),
        ("POST", UPDATE, f"{second.idempotency_key}-method"), ("POST", CONFIRMATION, second.idempotency_key),
    ]


def test_a_card_that_needs_3d_secure_sends_the_browser_to_stripes_redirect(api, client):
    stripe = _checkout(api)
    stripe.confirms(so.pi_requires_action, url=REDIRECT, return_url=site_url("checkout-return", stripe.checkout.id))
    response = _buy(client, stripe.checkout, "pm_card_threeDSecure2Required")
    assert response.status_code == 201
    assert response.json()["attempt"]["status"] == "requires_action"
    assert response.json()["redirect_url"] == REDIRECT
    assert PaymentAttempt.objects.get().action_url == REDIRECT


@pytest.mark.parametrize("method", ["card_4242", "pm_card visa", "pm_" + "a" * 67, "tok_visa"])
def test_buy_now_with_a_payment_method_that_is_not_a_stripe_id_is_a_400_and_calls_nothing(api, client, method):
    stripe = _checkout(api)
    api.remove(responses.POST, INTENT)  # nothing may reach Stripe
    response = _buy(client, stripe.checkout, method)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_payment_method"
    assert len(api.calls) == 1  # the checkout's creation only
    assert PaymentAttempt.objects.count() == 0


@pytest.mark.parametrize("method", ["card_4242", "x" * 70, "pm_" + "a" * 67, "pm_card_visa\n", "pm_" + "a" * 61 + "\n"])
def test_the_buy_now_service_refuses_a_payment_method_that_is_not_a_stripe_id(api, method):
    # the purchase page hands the posted value to the service as it came: the service is the gate
    stripe = _checkout(api)
    api.remove(responses.POST, INTENT)
    with pytest.raises(DomainError) as refused:
        attempt_buy_now(checkout_id=stripe.checkout.id, token=stripe.checkout.psp_token, payment_method=method,
                        cause=Cause(kind="shopper"))
    assert refused.value.code == "invalid_payment_method"
    assert len(api.calls) == 1
    assert PaymentAttempt.objects.count() == 0


# --- a lost answer: the same keys, and Stripe's current PaymentIntent decides -----------------------------------


def test_a_lost_confirmation_leaves_the_attempt_started_and_the_poll_resends_it_under_the_same_keys(api, client):
    # given Stripe takes the update but every confirmation's answer is lost on the wire
    stripe = _checkout(api)
    stripe.loses_confirmations()
    response = _buy(client, stripe.checkout)
    # then the shopper's attempt stays started, due for a poll
    attempt = PaymentAttempt.objects.get()
    assert response.json()["attempt"]["status"] == "started"
    assert (attempt.status, attempt.psp_payment_id) == (AttemptStatus.STARTED, None)
    assert attempt.next_poll_at is not None
    key = attempt.idempotency_key
    assert _sent(api, 1) == [("POST", UPDATE, f"{key}-method")] + [("POST", CONFIRMATION, key)] * 3
    # when the poller asks, and Stripe shows the PaymentIntent updated for this attempt but never confirmed
    stripe.shows(so.pi_requires_confirmation)
    stripe.confirms(so.pi_succeeded)
    before = len(api.calls)
    polled = attempt_sync(attempt_id=attempt.id, cause=POLL)
    # then the very same update and confirmation are sent again (a retry to Stripe, never a second confirmation)
    assert polled.status == AttemptStatus.SUCCEEDED
    assert _sent(api, before) == [("GET", UPDATE, ""), ("POST", UPDATE, f"{key}-method"),
                                  ("POST", CONFIRMATION, key)]
    confirmations = {(call.request.headers["Idempotency-Key"], call.request.body) for call in api.calls
                     if call.request.url.endswith("/confirm")}
    assert len(confirmations) == 1  # one key, one body: Stripe can confirm this attempt once at most


def test_a_poll_after_a_lost_answer_that_stripe_did_confirm_sends_nothing_again(api, client):
    # given the confirmation reached Stripe but its answer was lost
    stripe = _checkout(api)
    stripe.loses_confirmations()
    _buy(client, stripe.checkout)
    attempt = PaymentAttempt.objects.get()
    # when the poller asks, and Stripe shows this attempt's confirmation succeeded
    stripe.shows(so.pi_succeeded)
    before = len(api.calls)
    polled = attempt_sync(attempt_id=attempt.id, cause=POLL)
    # then that is applied, and nothing is sent to Stripe again
    assert polled.status == AttemptStatus.SUCCEEDED
    assert _sent(api, before) == [("GET", UPDATE, "")]
    # and the read asked for the PaymentIntent alone (no expand[]: the charge's amount_refunded is never used)
    assert api.calls[before].request.path_url == f"/v1{UPDATE}"


def test_a_poll_moves_a_processing_attempt_to_succeeded_and_a_late_processing_read_changes_nothing(api, client):
    # given an attempt Stripe is still processing
    stripe = _checkout(api)
    stripe.confirms(so.pi_processing)
    assert _buy(client, stripe.checkout).json()["attempt"]["status"] == "pending"
    attempt = PaymentAttempt.objects.get()
    # when a poll finds the PaymentIntent succeeded
    stripe.shows(so.pi_succeeded)
    assert attempt_sync(attempt_id=attempt.id, cause=POLL).status == AttemptStatus.SUCCEEDED
    stripe.checkout.refresh_from_db()
    assert stripe.checkout.status == CheckoutStatus.PAID
    # when a read that is older arrives after it (the PaymentIntent as it was: processing)
    stripe.shows(so.pi_processing)
    moves = StatusChange.objects.count()
    late = attempt_sync(attempt_id=attempt.id, cause=POLL)
    # then nothing changes (processing is version 2, succeeded 4)
    assert (late.status, late.psp_version) == (AttemptStatus.SUCCEEDED, 4)
    assert StatusChange.objects.count() == moves


# --- refunds ↔ Stripe Refunds ------------------------------------------------------------------------------


def _paid(api: responses.RequestsMock, client: Any) -> PaymentIntentAtStripe:
    stripe = _checkout(api)
    stripe.confirms(so.pi_succeeded)
    assert _buy(client, stripe.checkout).json()["attempt"]["status"] == "succeeded"
    return stripe


@pytest.mark.parametrize(
    ("later", "refund_status", "checkout_status", "refunded"),
    [
        (so.refund_succeeded, RefundStatus.SUCCEEDED, CheckoutStatus.PARTIALLY_REFUNDED, "5.00"),
        (so.refund_canceled, RefundStatus.FAILED, CheckoutStatus.PAID, "0.00"),
        (so.refund_requires_action, RefundStatus.PENDING, CheckoutStatus.PAID, "0.00"),
    ],
    ids=["succeeded", "canceled", "requires_action"],
)
def test_a_refund_is_a_stripe_refund_pending_then_settled_by_its_poll(
    api, client, later, refund_status, checkout_status, refunded
):
    # given a paid checkout
    stripe = _paid(api, client)
    checkout = stripe.checkout
    refund_id = uuid.uuid4()
    api.post(f"{API}/refunds", json=so.refund_pending(amount=500, currency="eur", metadata={"reason": "asked"}),
             match=[matchers.urlencoded_params_matcher({"payment_intent": so.PI_ID, "amount": "500",
                                                        "metadata[reason]": "asked"}),
                    matchers.header_matcher({"Idempotency-Key": f"bps-refund-{refund_id}"})])
    # when staff refund 5.00 of it
    refund = refund_create(checkout_id=checkout.id, amount=Decimal("5.00"), reason="asked", cause=Cause(kind="staff"),
                           refund_id=refund_id)
    # then Stripe's Refund is pending, and ours with it
    assert (refund.status, refund.psp_refund_id) == (RefundStatus.PENDING, so.REFUND_ID)
    # when its poll finds the Refund settled
    api.get(f"{API}/refunds/{so.REFUND_ID}", json=later(amount=500, currency="eur", metadata={"reason": "asked"}))
    synced = refund_sync(refund_id=refund.id, cause=POLL)
    # then ours follows, and the checkout with it
    assert synced.status == refund_status
    checkout.refresh_from_db()
    assert checkout.status == checkout_status
    assert PaymentAttempt.objects.get().refunded_amount == Decimal(refunded)
    assert Refund.objects.count() == 1
