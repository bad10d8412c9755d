# ruff: noqa: F811  (the pytest fixture `api`, imported from test_stripe_mode, is used as an argument)
"""Outside review of issue 12 (Stripe mode): each test shows one finding and fails on the code as it stands.

Stripe is replaced at its HTTP boundary by the documented objects of payments/tests/stripe_objects.py, through the
harness of test_stripe_mode.py.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from checkout.tests.factories import make_checkout
from payments.attempt_lifecycle import attempt_apply_payment, attempt_sync
from payments.locks import lock_checkout
from payments.models import PaymentAttempt, StatusChange
from payments.psp.stripe import payment_of
from payments.refunds import refund_create, refund_record, refund_sync
from payments.states import AttemptStatus, CheckoutStatus, RefundStatus
from payments.tests import stripe_objects as so
from payments.tests.factories import make_attempt
from payments.tests.test_stripe_mode import (  # noqa: F401 (the `api` fixture)
    API,
    POLL,
    _buy,
    _checkout,
    _paid,
    api,
)
from payments.transitions import Cause
from webhooks.tests.test_stripe_receiver import deliver

pytestmark = pytest.mark.django_db

CLIENT_SECRET = f"{so.PI_ID}_secret_Dm43xiq1k0ywrRRjDoi8y1gkM"
# Stripe's hosted 3-D Secure page, as the README says: it carries the PaymentIntent's client secret.
REDIRECT_WITH_SECRET = (
    f"https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1&payment_intent={so.PI_ID}"
    f"&payment_intent_client_secret={CLIENT_SECRET}&publishable_key=pk_test_51Pg&source=payatt_3Pg"
)


# --- refunds: Charge.amount_refunded counts refunds that have not succeeded -----------------------------------


def _pending_full_refund(api, client):  # type: ignore[no-untyped-def]
    stripe = _paid(api, client)
    api.post(f"{API}/refunds", json=so.refund_pending(amount=1250, currency="eur"))
    refund = refund_create(checkout_id=stripe.checkout.id, amount=Decimal("12.50"), reason="",
                           cause=Cause(kind="staff"))
    assert refund.status == RefundStatus.PENDING
    return stripe, refund


def test_a_pending_stripe_refund_does_not_mark_the_checkout_refunded(api, client):
    # given a paid checkout with a full refund that Stripe holds as pending
    stripe, _refund = _pending_full_refund(api, client)
    attempt = PaymentAttempt.objects.get()
    # when the PaymentIntent is re-read (charge.refunded / refund.created event, or staff asking): Stripe already
    # counts the pending refund in latest_charge.amount_refunded
    stripe.shows(so.pi_succeeded, amount_refunded=1250)
    attempt_sync(attempt_id=attempt.id, cause=Cause(kind="webhook", reference="evt_charge_refunded"))
    # then, as on the generic path (refunded_amount = the sum of *succeeded* refunds), nothing is refunded yet
    stripe.checkout.refresh_from_db()
    assert stripe.checkout.status == CheckoutStatus.PAID
    assert PaymentAttempt.objects.get().refunded_amount == Decimal("0")


def test_a_stripe_refund_that_fails_after_pending_leaves_the_checkout_paid_and_refundable(api, client):
    # given a paid checkout with a pending full refund, and a re-read of its PaymentIntent while it was pending
    stripe, refund = _pending_full_refund(api, client)
    attempt = PaymentAttempt.objects.get()
    stripe.shows(so.pi_succeeded, amount_refunded=1250)
    attempt_sync(attempt_id=attempt.id, cause=Cause(kind="webhook", reference="evt_charge_refunded"))
    # when the refund fails (the card was closed): Stripe gives the money back to our balance and the charge
    # no longer counts it
    api.get(f"{API}/refunds/{so.REFUND_ID}", json=so.refund_failed(amount=1250, currency="eur"))
    assert refund_sync(refund_id=refund.id, cause=POLL).status == RefundStatus.FAILED
    stripe.shows(so.pi_succeeded, amount_refunded=0)
    attempt_sync(attempt_id=attempt.id, cause=Cause(kind="webhook", reference="evt_charge_refund_updated"))
    # then the shopper was not refunded: the checkout is paid again and the 12.50 can be refunded anew
    stripe.checkout.refresh_from_db()
    assert stripe.checkout.status == CheckoutStatus.PAID
    assert PaymentAttempt.objects.get().refunded_amount == Decimal("0")
    with transaction.atomic():
        refund_record(checkout=lock_checkout(stripe.checkout.id), amount=Decimal("12.50"), reason="again",
                      cause=Cause(kind="staff"))


# --- a charge Stripe made for an attempt we hold as failed, at the same rank ----------------------------------


def test_a_payment_intent_that_succeeds_after_its_attempt_was_declined_is_never_dropped_silently(api, client):
    # given an attempt declined by Stripe (failed, version 3)
    stripe = _checkout(api)
    stripe.declines("insufficient_funds")
    assert _buy(client, stripe.checkout).json()["attempt"]["status"] == "failed"
    attempt = PaymentAttempt.objects.get()
    assert attempt.psp_version == 3
    # when the PaymentIntent is later confirmed outside our server for that same attempt's metadata (the client
    # secret is in every 3-D Secure URL, the Dashboard, …) and Stripe charged it
    stripe.shows(so.pi_succeeded)
    synced = attempt_sync(attempt_id=attempt.id, cause=Cause(kind="webhook", reference="evt_pi_succeeded"))
    # then the charge is never hidden: the attempt goes to review (as any PSP word contradicting a final status)
    assert synced.status == AttemptStatus.NEEDS_REVIEW, (
        "Stripe holds the money, we still show the attempt failed and the checkout open: "
        f"{synced.status}, v{synced.psp_version}")


# --- secrets --------------------------------------------------------------------------------------------------


def test_the_client_secret_in_a_3d_secure_url_is_not_shown_in_the_admin(api, client):
    stripe = _checkout(api)
    stripe.confirms(so.pi_requires_action, url=REDIRECT_WITH_SECRET)
    assert _buy(client, stripe.checkout).json()["attempt"]["status"] == "requires_action"
    attempt = PaymentAttempt.objects.get()
    staff = User.objects.create(username="root", is_staff=True, is_superuser=True)
    client.force_login(staff)
    page = client.get(f"/admin/payments/paymentattempt/{attempt.id}/change/")
    assert page.status_code == 200
    assert CLIENT_SECRET not in page.content.decode(), "the PaymentIntent's client secret is on the admin page"


def test_the_client_secret_in_a_3d_secure_url_is_not_stored_in_a_review_note():
    # given an attempt we closed as failed (never received), and Stripe now showing it waiting for 3-D Secure
    checkout = make_checkout(psp_token=so.PI_ID, psp_provider="stripe")
    attempt = make_attempt(checkout, status=AttemptStatus.FAILED, failure_code="not_received_by_psp")
    intent = so.pi_requires_action(url=REDIRECT_WITH_SECRET, amount=1250, currency="eur",
                                   metadata={"attempt_id": str(attempt.id)})
    payment = payment_of(intent)
    assert payment is not None
    # when that is applied: a contradiction, held for review with the PSP object in the note
    attempt_apply_payment(attempt_id=attempt.id, payment=payment, cause=Cause(kind="poll"))
    # then the note on the timeline does not hold the client secret
    notes = " ".join(StatusChange.objects.filter(attempt_id=attempt.id).values_list("note", flat=True))
    assert "contradicts" in PaymentAttempt.objects.get().review_note
    assert CLIENT_SECRET not in notes, "the client secret is stored in a status change's note"


# --- the webhook receiver ---------------------------------------------------------------------------------------


def test_a_signed_stripe_event_whose_object_has_no_id_is_accepted_and_ignored(api, client, settings):
    # given a real Stripe event about an object without an id (Balance), e.g. what `stripe listen` forwards by default
    payload = {
        "id": "evt_1Pgc76B7WZ01zgkWbalance1", "object": "event", "api_version": so.API_VERSION,
        "created": so.CREATED, "livemode": False, "pending_webhooks": 1, "type": "balance.available",
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": {"object": "balance", "livemode": False,
                            "available": [{"amount": 1250, "currency": "eur", "source_types": {"card": 1250}}],
                            "pending": [{"amount": 0, "currency": "eur", "source_types": {"card": 0}}]}},
    }
    # when Stripe delivers it, correctly signed
    response = deliver(client, payload)
    # then it is answered 2xx (recorded and ignored), not refused: Stripe retries every non-2xx for days and
    # counts it against the endpoint
    assert response.status_code == 200, response.content

