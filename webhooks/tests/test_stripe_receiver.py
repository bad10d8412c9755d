"""POST /webhooks/stripe/: Stripe's signature verified on the raw bytes, each event recorded once, refusals only
counted; processing takes an event as a hint and applies Stripe's current object, re-read through `responses`."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal
from typing import Any

import pytest
import responses
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from responses import matchers

from checkout.tests.factories import make_checkout
from payments import gateway
from payments.models import Refund
from payments.psp.types import PspUnavailable
from payments.states import AttemptStatus, CheckoutStatus, RefundStatus
from payments.tests import stripe_objects as so
from payments.tests.factories import make_attempt
from webhooks.models import WebhookEvent
from webhooks.processing import event_process
from webhooks.refusals import refusals_by_reason

pytestmark = pytest.mark.django_db

WEBHOOK_SECRET = "whsec_test_5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH"
API = "https://api.stripe.com/v1"
INTENT = f"{API}/payment_intents/{so.PI_ID}"
CLIENT_SECRET = so.payment_intent()["client_secret"]


@pytest.fixture(autouse=True)
def api(settings):  # type: ignore[no-untyped-def]
    """Stripe mode, with Stripe served by `responses`: every answer registered must have been asked for, and a
    request nobody registered fails the test."""
    settings.PSP_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_51PgafyB7WZ01zgkWq0aJ2z3xVbNmK8sLdE4rT6yU"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_51PgafyB7WZ01zgkWpUbLiShAbLe"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = ""
    gateway._clients.clear()
    with responses.RequestsMock() as mock:
        yield mock
    gateway._clients.clear()


def stripe_signed(payload: dict[str, Any] | bytes, *, secret: str = WEBHOOK_SECRET,
                  timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and Django test-client headers of one delivery, signed as Stripe documents for manual
    verification: `t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<body>", keyed with the whole whsec_ secret>`."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    stamp = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"HTTP_STRIPE_SIGNATURE": f"t={stamp},v1={signature}"}


def deliver(client: Any, payload: dict[str, Any] | bytes, **options: Any) -> Any:
    body, headers = stripe_signed(payload, **options)
    return client.post("/webhooks/stripe/", data=body, content_type="application/json", **headers)


def refused() -> dict[str, int]:
    return refusals_by_reason(now=timezone.now())


def _received(client: Any, payload: dict[str, Any]) -> WebhookEvent:
    assert deliver(client, payload).status_code == 200
    return WebhookEvent.objects.get(event_id=payload["id"])


# --- receiving -----------------------------------------------------------------------------------------------


def test_a_signed_event_is_recorded_once_as_stripes_with_the_client_secret_masked(
    client, django_capture_on_commit_callbacks
):
    # given an event whose PaymentIntent carries its client secret
    payload = so.event("payment_intent.succeeded", so.pi_succeeded())
    assert CLIENT_SECRET in json.dumps(payload)
    # when Stripe delivers it
    with django_capture_on_commit_callbacks() as enqueued:
        response = deliver(client, payload)
    # then it is recorded for the Stripe receiver and its processing enqueued once committed
    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    stored = WebhookEvent.objects.get()
    assert (stored.provider, stored.event_id, stored.type, stored.outcome, stored.psp_object_id) == (
        "stripe", so.EVENT_ID, "payment_intent.succeeded", "received", so.PI_ID)
    assert stored.headers["stripe-signature"].startswith("t=")
    assert len(enqueued) == 1
    # and the stored body never holds the client secret
    assert CLIENT_SECRET not in stored.body
    assert json.loads(stored.body)["data"]["object"]["client_secret"] == "…" + CLIENT_SECRET[-4:]


def test_the_stored_body_holds_no_client_secret_even_inside_the_3d_secure_redirect_url(client):
    # given a requires_action event whose redirect URL names the client secret in its query, as Stripe's hosted
    # 3-D Secure URLs do (published next_action.redirect_to_url.url values: payment_intent_client_secret=pi_…_secret_…)
    redirect = (f"https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1&payment_intent={so.PI_ID}"
                f"&payment_intent_client_secret={CLIENT_SECRET}")
    payload = so.event("payment_intent.requires_action", so.pi_requires_action(url=redirect))
    # when Stripe delivers it
    stored = _received(client, payload)
    # then the body kept for staff does not hold it
    assert CLIENT_SECRET not in stored.body


def test_a_redelivery_is_answered_200_duplicate_and_changes_nothing(client, django_capture_on_commit_callbacks):
    payload = so.event("payment_intent.processing", so.pi_processing())
    deliver(client, payload)
    with django_capture_on_commit_callbacks() as enqueued:
        # Stripe retries with a fresh timestamp, so a fresh signature
        again = deliver(client, payload, timestamp=int(time.time()) + 1)
    assert again.status_code == 200
    assert again.json() == {"received": True, "duplicate": True}
    assert WebhookEvent.objects.count() == 1
    assert enqueued == []


def _event() -> dict[str, Any]:
    return so.event("payment_intent.succeeded", so.pi_succeeded())


def _without_signature(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, {}


def _signed_by_another_secret(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return stripe_signed(body, secret="whsec_test_c2VjcmV0LW9mLWFub3RoZXItZW5kcG9pbnQ")


def _signed_301_seconds_ago(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return stripe_signed(body, timestamp=int(time.time()) - 301)


def _tampered(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body.replace(b'"succeeded"', b'"canceled"', 1), headers


def _timestamp_only(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body, {"HTTP_STRIPE_SIGNATURE": headers["HTTP_STRIPE_SIGNATURE"].split(",")[0]}


@pytest.mark.parametrize(
    ("tamper", "status", "code", "reason"),
    [
        (_without_signature, 400, "invalid_request", "malformed_headers"),
        (_timestamp_only, 400, "invalid_request", "malformed_headers"),
        (_signed_by_another_secret, 401, "invalid_signature", "bad_signature"),
        (_tampered, 401, "invalid_signature", "bad_signature"),
        (_signed_301_seconds_ago, 401, "invalid_signature", "bad_timestamp"),
    ],
    ids=["no Stripe-Signature", "no v1=", "another secret", "body changed", "301 s old"],
)
def test_a_delivery_that_fails_verification_is_refused_counted_and_not_stored(client, tamper, status, code, reason):
    body, headers = tamper(*stripe_signed(_event()))
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/webhooks/stripe/", data=body, content_type="application/json", **headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert len(queries) == 0  # not even a read
    assert WebhookEvent.objects.count() == 0
    assert refused() == {reason: 1}


NOT_EVENTS = {
    "a PaymentIntent, not an event": so.pi_succeeded(),
    "a Refund, not an event": so.refund(),
    "an id that is not evt_": {**_event(), "id": so.PI_ID},
    "no type": {key: value for key, value in _event().items() if key != "type"},
    "no data": {key: value for key, value in _event().items() if key != "data"},
    "data without an object": {**_event(), "data": {"previous_attributes": {}}},
    "not JSON": b"not json",
    "a list": b"[]",
}


@pytest.mark.parametrize("payload", NOT_EVENTS.values(), ids=NOT_EVENTS.keys())
def test_a_signed_body_that_is_not_an_event_is_a_400_that_writes_nothing(client, payload):
    body, headers = stripe_signed(payload)
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/webhooks/stripe/", data=body, content_type="application/json", **headers)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_event")
    assert len(queries) == 0
    assert WebhookEvent.objects.count() == 0
    assert refused() == {"invalid_event": 1}


# A Balance has no id: Stripe sends balance.available about it (`stripe listen` forwards every type by default).
BALANCE_EVENT = {
    "id": "evt_1Pgc76B7WZ01zgkWbalance1", "object": "event", "api_version": so.API_VERSION, "created": so.CREATED,
    "livemode": False, "pending_webhooks": 1, "type": "balance.available",
    "request": {"id": None, "idempotency_key": None},
    "data": {"object": {"object": "balance", "livemode": False,
                        "available": [{"amount": 1250, "currency": "eur", "source_types": {"card": 1250}}],
                        "pending": [{"amount": 0, "currency": "eur", "source_types": {"card": 0}}]}},
}
WITHOUT_ID = {
    "a Balance": BALANCE_EVENT,
    "a PaymentIntent without id": {**_event(), "data": {"object": {k: v for k, v in so.pi_succeeded().items()
                                                                   if k != "id"}}},
}


@pytest.mark.parametrize("payload", WITHOUT_ID.values(), ids=WITHOUT_ID.keys())
def test_a_signed_event_whose_object_has_no_id_is_recorded_and_ignored_without_asking_stripe(client, api, payload):
    # given a checkout of ours waiting for its payment
    _checkout, attempt = _ours()
    # when Stripe delivers, correctly signed, an event whose object has no id
    stored = _received(client, payload)
    # then it is recorded as Stripe's, with no object id, and nothing is counted as refused (Stripe would retry
    # every non-2xx for days)
    assert (stored.provider, stored.type, stored.outcome, stored.psp_object_id) == (
        "stripe", payload["type"], "received", "")
    assert refused() == {}
    # and processing ignores it: Stripe is not asked and nothing of ours moves
    assert event_process(event_pk=stored.pk) == "ignored"
    assert len(api.calls) == 0
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.STARTED
    stored.refresh_from_db()
    assert (stored.outcome, stored.checkout_id) == ("ignored", None)


def test_a_signed_body_that_is_not_utf8_is_refused_and_writes_nothing(client):
    # Stripe sends UTF-8 JSON; the SDK verifies text, so such bytes never verify
    body, headers = stripe_signed(b"\xff\xfe")
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/webhooks/stripe/", data=body, content_type="application/json", **headers)
    assert response.status_code == 401
    assert len(queries) == 0 and WebhookEvent.objects.count() == 0
    assert refused() == {"bad_signature": 1}


# --- processing: the event is a hint, Stripe's current object the truth --------------------------------------------


def _ours(**fields: Any):  # type: ignore[no-untyped-def]
    """A checkout whose token is the PaymentIntent, and its attempt (Buy Now's answer lost: still started)."""
    checkout = make_checkout(psp_token=so.PI_ID, psp_provider="stripe", amount=Decimal("10.99"), currency="USD")
    return checkout, make_attempt(checkout, **fields)


def _reread(api: responses.RequestsMock, intent: dict[str, Any]) -> None:
    """Stripe's current PaymentIntent, read alone: no `expand[]` (the charge's amount_refunded is never used)."""
    api.get(INTENT, json=intent, match=[matchers.query_param_matcher({})])


@pytest.mark.parametrize(
    ("event_type", "carried", "current", "status", "checkout_status"),
    [
        ("payment_intent.processing", so.pi_processing, so.pi_succeeded, AttemptStatus.SUCCEEDED,
         CheckoutStatus.PAID),
        ("payment_intent.succeeded", so.pi_succeeded, so.pi_processing, AttemptStatus.PENDING,
         CheckoutStatus.PROCESSING),
        ("payment_intent.payment_failed", so.pi_declined, so.pi_succeeded, AttemptStatus.SUCCEEDED,
         CheckoutStatus.PAID),
        ("payment_intent.requires_action", so.pi_requires_action, so.pi_declined, AttemptStatus.FAILED,
         CheckoutStatus.OPEN),
    ],
    ids=["says processing, is succeeded", "says succeeded, is processing", "says failed, is succeeded",
         "says requires_action, is declined"],
)
def test_a_payment_intent_event_applies_what_stripe_shows_now_not_what_it_carries(
    client, api, event_type, carried, current, status, checkout_status
):
    # given our checkout, and an event whose copy of the PaymentIntent differs from Stripe's current one
    checkout, attempt = _ours()
    metadata = {"checkout_id": str(checkout.id), "attempt_id": str(attempt.id)}
    stored = _received(client, so.event(event_type, carried(metadata=metadata)))
    _reread(api, current(metadata=metadata))
    # when it is processed
    assert event_process(event_pk=stored.pk) == "processed"
    # then the current object was applied, through the status machine, as caused by this event
    attempt.refresh_from_db()
    checkout.refresh_from_db()
    assert (attempt.status, checkout.status) == (status, checkout_status)
    change = checkout.status_changes.get(attempt=attempt, to_status=status)
    assert (change.cause, change.cause_reference) == ("webhook", so.EVENT_ID)
    stored.refresh_from_db()
    assert stored.checkout_id == checkout.id
    assert len(api.calls) == 1  # one read of Stripe, nothing sent


def test_an_event_about_a_payment_intent_that_is_not_ours_is_ignored_without_asking_stripe(client, api):
    # given a checkout of ours, and an event about another PaymentIntent (another shop on the same account)
    _checkout, attempt = _ours()
    other = so.pi_succeeded(id="pi_3OtherShopB7WZ01zgkW0aBcDeF", metadata={"order": "elsewhere-7"})
    stored = _received(client, so.event("payment_intent.succeeded", other))
    # when it is processed
    outcome = event_process(event_pk=stored.pk)
    # then it is recorded as ignored, Stripe was not asked, and nothing of ours moved
    assert outcome == "ignored"
    assert len(api.calls) == 0
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.STARTED
    stored.refresh_from_db()
    assert stored.checkout_id is None and "not one of ours" in stored.outcome_detail


def test_a_refund_event_syncs_the_refund_from_stripes_current_refund(client, api):
    # given a paid checkout (succeeded: version 4) with a pending refund of all of it
    checkout, attempt = _ours(status=AttemptStatus.SUCCEEDED, psp_payment_id=so.PI_ID, psp_version=4)
    refund = Refund(checkout=checkout, attempt=attempt, amount=Decimal("10.99"), currency="USD",
                    status=RefundStatus.PENDING, psp_refund_id=so.REFUND_ID, idempotency_key="bps-refund-1")
    refund.save()
    # and an event whose copy of the Refund still says pending, while Stripe's current one succeeded
    stored = _received(client, so.event("refund.updated", so.refund_pending()))
    api.get(f"{API}/refunds/{so.REFUND_ID}", json=so.refund_succeeded())
    # and Stripe's current PaymentIntent, as a read without expand[] gives it: the charge only by its id
    _reread(api, so.pi_succeeded(latest_charge=so.CHARGE_ID,
                                 metadata={"checkout_id": str(checkout.id), "attempt_id": str(attempt.id)}))
    # when it is processed
    assert event_process(event_pk=stored.pk) == "processed"
    # then the refund follows Stripe's current Refund, and the payment and the checkout follow our refund rows
    # (the refunded amount comes from Stripe's Refund objects alone); a refund moves no version
    refund.refresh_from_db()
    attempt.refresh_from_db()
    checkout.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert (attempt.status, attempt.refunded_amount, attempt.psp_version) == (
        AttemptStatus.SUCCEEDED, Decimal("10.99"), 4)
    assert checkout.status == CheckoutStatus.REFUNDED
    assert len(api.calls) == 2  # the Refund and the PaymentIntent, read once each


def test_an_event_whose_re_read_finds_stripe_down_fails_for_a_retry(client, api):
    _checkout, attempt = _ours()
    stored = _received(client, so.event("payment_intent.succeeded", so.pi_succeeded()))
    api.get(INTENT, status=500, json=so.api_error_body())
    with pytest.raises(PspUnavailable):
        event_process(event_pk=stored.pk)
    stored.refresh_from_db()
    assert (stored.outcome, stored.processing_attempts) == ("failed", 1)
    assert stored.retry_at is not None
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.STARTED
    assert len(api.calls) == 3
