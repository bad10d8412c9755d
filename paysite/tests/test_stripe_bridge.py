"""The Stripe test bridge over localstripe, driven with the official `stripe` SDK exactly as our
Stripe adapter drives Stripe (issue 12): every flow answers as Stripe's API reference documents."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import stripe

from paysite.tests.processes import STRIPE_SECRET_KEY, StripeBridge
from paysite.tests.stripe_shapes import CARD_3DS_REQUIRED, CARD_DECLINED_AFTER_ATTACH, IBAN_FAILS, IBAN_SETTLES
from psp_sandbox.tests.receiver import Receiver

pytestmark = pytest.mark.stripe_emulator

RETURN_URL = "http://127.0.0.1:8000/checkout/6f1c/return/?from=stripe"
WEBHOOK_SECRET = "whsec_dGVzdC1icmlkZ2Utd2ViaG9vay1zZWNyZXQ="


@pytest.fixture
def client(localstripe: StripeBridge) -> stripe.StripeClient:
    return stripe.StripeClient(api_key=STRIPE_SECRET_KEY, base_addresses={"api": localstripe.url},
                               http_client=stripe.RequestsClient())


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def endpoint(localstripe: StripeBridge, receiver: Receiver) -> Iterator[str]:
    """A webhook endpoint of this test's own, registered with the bridge as the BPS registers its own."""
    url = receiver.url()
    localstripe.register_webhook(url, WEBHOOK_SECRET, endpoint_id=url.rsplit("/", 1)[1])
    yield url
    localstripe.unregister_webhook(url.rsplit("/", 1)[1])


def checkout(client: stripe.StripeClient, *, amount: int = 1250, key: str = "") -> stripe.PaymentIntent:
    """The adapter's request when a checkout is created."""
    params: Any = {"amount": amount, "currency": "eur", "description": "Order 1042",
                   "metadata": {"checkout_id": "6f1c"}, "automatic_payment_methods": {"enabled": True}}
    return client.v1.payment_intents.create(params=params, options={"idempotency_key": key or new_key()})


def buy_now(client: stripe.StripeClient, intent_id: str, payment_method: str, *, key: str = "") -> stripe.PaymentIntent:
    """The adapter's two requests on Buy Now: set the shopper's method, then confirm server-side."""
    key = key or new_key()
    client.v1.payment_intents.update(intent_id, params={
        "payment_method": payment_method, "metadata": {"attempt_id": key, "checkout_id": "6f1c"}},
        options={"idempotency_key": f"{key}-update"})
    return client.v1.payment_intents.confirm(intent_id, params={"return_url": RETURN_URL, "expand": ["latest_charge"]},
                                             options={"idempotency_key": f"{key}-confirm"})


def read(client: stripe.StripeClient, intent_id: str) -> stripe.PaymentIntent:
    """The adapter's read: the intent with its charge."""
    return client.v1.payment_intents.retrieve(intent_id, params={"expand": ["latest_charge"]})


def new_key() -> str:
    return uuid.uuid4().hex


def events_about(receiver: Receiver, url: str, object_id: str, count: int, timeout: float = 10) -> list[stripe.Event]:
    """The first `count` events about `object_id` at the endpoint, each verified as our receiver verifies."""
    deadline = time.monotonic() + timeout
    while True:
        events = [stripe.Webhook.construct_event(delivery.body, delivery.headers["Stripe-Signature"], WEBHOOK_SECRET)
                  for delivery in receiver.deliveries(url)]
        about = [event for event in events if object_id in {
            event.data.object.to_dict().get(name) for name in ("id", "payment_intent", "charge")}]
        if len(about) >= count or time.monotonic() > deadline:
            assert len(about) >= count, [event.type for event in about]
            return about[:count]
        time.sleep(0.1)


def charges_of(localstripe: StripeBridge, intent_id: str) -> list[str]:
    charges = localstripe.get("/v1/charges?limit=10000")["data"]
    return [charge["id"] for charge in charges if charge["payment_intent"] == intent_id]


def test_a_card_that_succeeds_is_paid_by_one_confirmation(client: stripe.StripeClient,
                                                          localstripe: StripeBridge) -> None:
    # given a checkout's PaymentIntent, with what localstripe would refuse (description, automatic methods)
    intent = checkout(client)
    assert (intent.status, intent.description, intent.automatic_payment_methods.enabled) == (
        "requires_payment_method", "Order 1042", True)
    # when the shopper buys with Stripe's test card 4242…
    paid = buy_now(client, intent.id, "pm_card_visa")
    # then it succeeded in one charge, shown expanded as asked
    assert paid.status == "succeeded"
    assert paid.amount_received == 1250
    assert (paid.latest_charge.amount, paid.latest_charge.status, paid.latest_charge.amount_refunded) == (
        1250, "succeeded", 0)
    assert paid.payment_method.startswith("pm_") and paid.payment_method != "pm_card_visa"
    assert paid.metadata.to_dict() == {"checkout_id": "6f1c", "attempt_id": paid.metadata["attempt_id"]}
    assert charges_of(localstripe, intent.id) == [paid.latest_charge.id]
    # and the charge is an id unless expanded, as on Stripe
    assert client.v1.payment_intents.retrieve(intent.id).latest_charge == paid.latest_charge.id
    assert read(client, intent.id).latest_charge.id == paid.latest_charge.id


@pytest.mark.parametrize("payment_method", ["pm_card_chargeCustomerFail", "pm_card_chargeDeclined", "made from 0341"])
def test_a_card_declined_at_charge_then_the_same_intent_paid_with_another(
        client: stripe.StripeClient, localstripe: StripeBridge, payment_method: str) -> None:
    # given a checkout and a card that Stripe declines when charged
    intent = checkout(client)
    if payment_method == "made from 0341":
        payment_method = localstripe.create_payment_method(card_number=CARD_DECLINED_AFTER_ATTACH)
    # when the shopper buys with it, then Stripe's card error comes back (402), naming the intent
    with pytest.raises(stripe.CardError) as declined:
        buy_now(client, intent.id, payment_method)
    error = declined.value.error
    assert declined.value.http_status == 402
    assert (error.type, error.code, error.decline_code) == ("card_error", "card_declined", "generic_decline")
    assert error.payment_intent.id == intent.id and error.payment_intent.status == "requires_payment_method"
    assert error.charge.startswith("ch_")
    # and the intent waits for another method, the decline in last_payment_error
    failed = read(client, intent.id)
    assert (failed.status, failed.payment_method) == ("requires_payment_method", None)
    assert failed.last_payment_error.code == "card_declined"
    assert failed.last_payment_error.decline_code == "generic_decline"
    assert failed.last_payment_error.payment_method.type == "card"
    assert failed.latest_charge.id == error.charge and failed.latest_charge.status == "failed"
    # when the shopper tries again with 4242…, then the same intent is paid by a second charge
    paid = buy_now(client, intent.id, "pm_card_visa")
    assert paid.status == "succeeded" and paid.latest_charge.id != error.charge
    assert charges_of(localstripe, intent.id) == [error.charge, paid.latest_charge.id]


@pytest.mark.parametrize(("answer", "status", "redirect_status"), [
    ("true", "succeeded", "succeeded"),
    ("false", "requires_payment_method", "failed"),
])
def test_3d_secure_goes_through_the_bridge_page_and_back_to_the_return_url(
        client: stripe.StripeClient, localstripe: StripeBridge, receiver: Receiver, endpoint: str,
        answer: str, status: str, redirect_status: str) -> None:
    # given a checkout paid with Stripe's card that always asks for 3-D Secure
    intent = checkout(client)
    pending = buy_now(client, intent.id, "pm_card_authenticationRequired")
    # then the browser is sent to a page, to come back to our return page, as Stripe does with a return_url
    assert pending.status == "requires_action"
    assert pending.next_action.type == "redirect_to_url"
    assert pending.next_action.redirect_to_url.url == f"{localstripe.url}/3ds/{intent.id}"
    assert pending.next_action.redirect_to_url.return_url == RETURN_URL
    page = requests.get(pending.next_action.redirect_to_url.url, timeout=5)
    assert page.status_code == 200 and "Complete authentication" in page.text and "Fail authentication" in page.text
    # when the shopper completes (or fails) the challenge
    back = requests.post(pending.next_action.redirect_to_url.url, data={"success": answer}, allow_redirects=False,
                         timeout=5)
    # then the browser goes back to the return_url, with what Stripe adds to it
    assert back.status_code == 302
    location = urlsplit(back.headers["Location"])
    assert location._replace(query="").geturl() == RETURN_URL.split("?")[0]
    assert {name: values[0] for name, values in parse_qs(location.query).items()} == {
        "from": "stripe", "payment_intent": intent.id, "payment_intent_client_secret": intent.client_secret,
        "redirect_status": redirect_status}
    # and the intent says how it ended, as do the events
    after = read(client, intent.id)
    assert after.status == status
    types = [event.type for event in events_about(receiver, endpoint, intent.id, 2)]
    if answer == "true":
        assert types == ["payment_intent.requires_action", "payment_intent.succeeded"]
    else:
        assert types == ["payment_intent.requires_action", "payment_intent.payment_failed"]
        assert after.last_payment_error.code == "payment_intent_authentication_failure"
        assert after.last_payment_error.payment_method.id == pending.payment_method
        assert after.payment_method is None


def test_3d_secure_through_the_fixture_and_a_new_method_after_a_failed_challenge(
        client: stripe.StripeClient, localstripe: StripeBridge) -> None:
    # given a card number that asks for 3-D Secure, made as Stripe.js makes it
    card = localstripe.create_payment_method(card_number=CARD_3DS_REQUIRED)
    intent = checkout(client)
    pending = buy_now(client, intent.id, card)
    # when the shopper fails the challenge, then the intent wants another method
    failed = localstripe.authenticate(intent.id, pending.client_secret, success=False)
    assert failed["status"] == "requires_payment_method"
    # when they try the same card again and pass, then it is paid
    again = buy_now(client, intent.id, localstripe.create_payment_method(card_number=CARD_3DS_REQUIRED))
    assert again.status == "requires_action"
    assert localstripe.authenticate(intent.id, again.client_secret, success=True)["status"] == "succeeded"
    assert read(client, intent.id).latest_charge.status == "succeeded"


@pytest.mark.parametrize(("iban", "status", "event"), [
    (IBAN_SETTLES, "succeeded", "payment_intent.succeeded"),
    (IBAN_FAILS, "requires_payment_method", "payment_intent.payment_failed"),
])
def test_a_sepa_debit_is_processing_until_the_bank_settles_it(
        client: stripe.StripeClient, localstripe: StripeBridge, receiver: Receiver, endpoint: str,
        iban: str, status: str, event: str) -> None:
    # given a SEPA debit made from a test IBAN, as Stripe.js makes it
    debit = localstripe.create_payment_method(iban=iban)
    intent = checkout(client)
    # when the shopper buys with it, then the payment is processing, its charge pending
    processing = buy_now(client, intent.id, debit)
    assert (processing.status, processing.latest_charge.status, processing.amount_received) == (
        "processing", "pending", 0)
    # then the bank's answer comes later: by webhook, and to whoever reads the intent
    events = events_about(receiver, endpoint, intent.id, 2)
    assert [item.type for item in events] == ["payment_intent.processing", event]
    assert events[1].data.object.status == status
    settled = read(client, intent.id)
    assert settled.status == status
    if status == "requires_payment_method":
        assert settled.last_payment_error.type == "card_error" and "decline_code" not in settled.last_payment_error
        assert settled.last_payment_error.payment_method.type == "sepa_debit"


def test_a_partial_then_a_full_refund(client: stripe.StripeClient, receiver: Receiver, endpoint: str) -> None:
    # given a paid checkout
    intent = checkout(client)
    charge = buy_now(client, intent.id, "pm_card_visa").latest_charge
    # when 5.00 of 12.50 is refunded
    first = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 500,
                                             "metadata": {"refund_id": "r1", "reason": "damaged"}},
                                     options={"idempotency_key": new_key()})
    # then the refund succeeded and the charge shows it
    assert (first.status, first.amount, first.payment_intent, first.charge) == ("succeeded", 500, intent.id, charge.id)
    assert first.metadata.to_dict() == {"refund_id": "r1", "reason": "damaged"}
    assert read(client, intent.id).latest_charge.amount_refunded == 500
    # when the rest is refunded (no amount: what is left), then all of it is refunded
    rest = client.v1.refunds.create(params={"payment_intent": intent.id, "reason": "requested_by_customer",
                                            "metadata": {"refund_id": "r2"}}, options={"idempotency_key": new_key()})
    assert (rest.amount, rest.reason) == (750, "requested_by_customer")
    fully = read(client, intent.id).latest_charge
    assert (fully.amount_refunded, fully.refunded) == (1250, True)
    assert client.v1.refunds.retrieve(first.id).to_dict() == first.to_dict()
    # and nothing more can be refunded, as Stripe says
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1})
    assert again.value.code == "charge_already_refunded"
    # and each refund was announced: refund.created, then charge.refunded with the new total
    events = events_about(receiver, endpoint, charge.id, 4)
    assert sorted(event.type for event in events) == ["charge.refunded"] * 2 + ["refund.created"] * 2
    assert sorted(event.data.object.amount_refunded for event in events if event.type == "charge.refunded") == [
        500, 1250]


def test_a_refund_larger_than_what_is_left_or_of_an_unpaid_intent_is_refused(client: stripe.StripeClient) -> None:
    intent = checkout(client)
    with pytest.raises(stripe.InvalidRequestError) as unpaid:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 100})
    assert unpaid.value.http_status == 400  # localstripe itself crashes (500) here
    buy_now(client, intent.id, "pm_card_visa")
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1251})
    assert (too_much.value.code, too_much.value.param) == ("amount_too_large", "amount")


def test_an_idempotency_key_replays_the_first_answer_and_charges_once(client: stripe.StripeClient,
                                                                      localstripe: StripeBridge) -> None:
    # given a checkout created and paid, each request with its key
    intent = checkout(client, key="checkout-6f1c")
    paid = buy_now(client, intent.id, "pm_card_visa", key="attempt-1")
    # when each request is sent again with its key (a lost answer, retried)
    created_again = checkout(client, key="checkout-6f1c")
    confirmed_again = client.v1.payment_intents.confirm(
        intent.id, params={"return_url": RETURN_URL, "expand": ["latest_charge"]},
        options={"idempotency_key": "attempt-1-confirm"})
    # then the first answers come back, byte for byte, marked as replays; nothing was charged twice
    assert created_again.id == intent.id
    assert json.loads(confirmed_again.last_response.body) == json.loads(paid.last_response.body)
    assert confirmed_again.last_response.code == paid.last_response.code == 200
    assert confirmed_again.last_response.headers["Idempotent-Replayed"] == "true"
    assert confirmed_again.last_response.headers["Original-Request"] == paid.last_response.request_id
    assert charges_of(localstripe, intent.id) == [paid.latest_charge.id]
    # and another request under a used key is refused
    with pytest.raises(stripe.IdempotencyError) as reused:
        checkout(client, amount=999, key="checkout-6f1c")
    assert reused.value.http_status == 400


def test_concurrent_confirmations_under_one_key_make_one_charge(localstripe: StripeBridge) -> None:
    # given a client that retries (StripeClient's default is no retry) and a checkout with a card chosen
    client = stripe.StripeClient(api_key=STRIPE_SECRET_KEY, base_addresses={"api": localstripe.url},
                                 http_client=stripe.RequestsClient(), max_network_retries=3)
    intent = checkout(client)
    client.v1.payment_intents.update(intent.id, params={"payment_method": "pm_card_visa"})

    def confirm(_: int) -> str:
        paid = client.v1.payment_intents.confirm(intent.id, params={"return_url": RETURN_URL},
                                                 options={"idempotency_key": "attempt-7-confirm"})
        return str(paid.last_response.body)

    # when 20 confirmations with one key arrive together (409 idempotency_key_in_use while the first
    # runs; the SDK retries that with the same key and gets the replay)
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = set(pool.map(confirm, range(20)))
    # then there was one confirmation: one charge, one answer for all
    assert len(answers) == 1
    assert len(charges_of(localstripe, intent.id)) == 1


def test_a_replayed_decline_is_the_same_decline(client: stripe.StripeClient, localstripe: StripeBridge) -> None:
    intent = checkout(client)
    with pytest.raises(stripe.CardError) as first:
        buy_now(client, intent.id, "pm_card_chargeDeclined", key="attempt-declined")
    with pytest.raises(stripe.CardError) as replayed:
        client.v1.payment_intents.confirm(intent.id, params={"return_url": RETURN_URL, "expand": ["latest_charge"]},
                                          options={"idempotency_key": "attempt-declined-confirm"})
    assert replayed.value.http_body == first.value.http_body
    assert len(charges_of(localstripe, intent.id)) == 1


def test_confirming_a_paid_intent_again_is_refused_as_on_stripe(client: stripe.StripeClient) -> None:
    intent = checkout(client)
    buy_now(client, intent.id, "pm_card_visa")
    with pytest.raises(stripe.InvalidRequestError) as confirmed_again:
        client.v1.payment_intents.confirm(intent.id, params={"return_url": RETURN_URL})
    with pytest.raises(stripe.InvalidRequestError) as another_method:
        buy_now(client, intent.id, "pm_card_visa")
    assert confirmed_again.value.code == another_method.value.code == "payment_intent_unexpected_state"
    assert read(client, intent.id).status == "succeeded"


def test_errors_carry_stripe_codes(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_intents.retrieve("pi_doesnotexist")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.payment_intents.create(params={"amount": 100, "currency": "eur", "frobnicate": "1"})  # type: ignore[typeddict-unknown-key]
    assert (unknown.value.code, unknown.value.param) == ("parameter_unknown", "frobnicate")


def test_a_webhook_arrives_signed_as_stripe_signs(client: stripe.StripeClient, receiver: Receiver,
                                                  endpoint: str) -> None:
    # given an endpoint registered with the bridge; when a checkout is paid
    intent = checkout(client)
    buy_now(client, intent.id, "pm_card_visa")
    # then its event arrives, verifies with the endpoint's secret and names the intent as the API shows it
    [event] = events_about(receiver, endpoint, intent.id, 1)
    assert event.type == "payment_intent.succeeded"
    assert event.data.object.status == "succeeded"
    assert isinstance(event.data.object.latest_charge, str)
    assert event.api_version == stripe.api_version
    delivery = next(item for item in receiver.deliveries(endpoint) if intent.id.encode() in item.body)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery.body, delivery.headers["Stripe-Signature"], "whsec_other")


def test_with_webhooks_off_no_event_is_sent(client: stripe.StripeClient, localstripe: StripeBridge,
                                            receiver: Receiver, endpoint: str) -> None:
    with localstripe.webhooks_off():
        intent = checkout(client)
        buy_now(client, intent.id, "pm_card_visa")
        time.sleep(2.5)  # localstripe sends its events a second after the change
    assert not [item for item in receiver.deliveries(endpoint) if intent.id.encode() in item.body]
