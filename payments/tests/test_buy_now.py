"""Buy Now over the JSON endpoint, with the PSP replaced at its HTTP boundary."""

import json
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from checkout.tests.factories import make_checkout
from payments.models import PaymentAttempt, StatusChange
from payments.states import AttemptStatus, CheckoutStatus
from payments.tests.factories import PSP, make_attempt, payment_json

pytestmark = pytest.mark.django_db



def _buy(client, checkout, method="pm_card_visa", token=None):
    body = {"token": checkout.psp_token if token is None else token, "payment_method": method}
    return client.post(f"/api/checkouts/{checkout.id}/buy-now/", data=json.dumps(body),
                       content_type="application/json")


def _psp_pays(psp_stub, **fields):
    def answer(request):
        sent = json.loads(request.body)
        payment = payment_json(metadata=sent["metadata"], token=sent["token"], **fields)
        return 201, {}, json.dumps(payment)

    psp_stub.add_callback("POST", f"{PSP}/v1/payments", callback=answer, content_type="application/json")


def test_buy_now_stores_the_attempt_pays_and_answers_201(client, psp_stub):
    # given an open checkout and a PSP that charges
    checkout = make_checkout()
    _psp_pays(psp_stub, status="succeeded")
    # when the shopper clicks Buy Now
    response = _buy(client, checkout)
    # then one attempt succeeded and the checkout is paid
    assert response.status_code == 201
    body = response.json()
    attempt = PaymentAttempt.objects.get()
    assert body == {
        "checkout_id": str(checkout.id),
        "attempt": {"id": str(attempt.id), "status": "succeeded", "failure_code": None},
        "redirect_url": f"http://127.0.0.1:8000/checkout/{checkout.id}/result/",
    }
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.PAID
    sent = json.loads(psp_stub.calls[0].request.body)
    assert sent["redirect_url"] == f"http://127.0.0.1:8000/checkout/{checkout.id}/return/"
    assert sent["webhook_url"] == "http://127.0.0.1:8000/webhooks/psp/"
    assert psp_stub.calls[0].request.headers["Idempotency-Key"] == f"bps-payment-{attempt.id}"
    moves = list(StatusChange.objects.filter(attempt=attempt).values_list("from_status", "to_status", "cause"))
    assert moves == [("", "started", "shopper"), ("started", "succeeded", "psp_answer")]


def test_a_second_click_answers_200_with_the_same_attempt_and_charges_nothing(client, psp_stub):
    checkout = make_checkout()
    _psp_pays(psp_stub, status="pending")
    first = _buy(client, checkout)
    second = _buy(client, checkout, method="pm_card_mastercard")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["attempt"]["id"] == first.json()["attempt"]["id"]
    assert len(psp_stub.calls) == 1
    assert PaymentAttempt.objects.count() == 1


def test_after_a_failed_attempt_the_shopper_can_try_another_method(client, psp_stub):
    # given a PSP that declines one card and charges another, and an open checkout
    checkout = make_checkout()

    def answer(request):
        sent = json.loads(request.body)
        outcome = ({"status": "failed", "failure_code": "card_declined"} if sent["payment_method"] == "pm_card_declined"
                   else {"status": "succeeded"})
        payment = payment_json(metadata=sent["metadata"], token=sent["token"], payment_method=sent["payment_method"],
                               **outcome)
        return 201, {}, json.dumps(payment)

    psp_stub.add_callback("POST", f"{PSP}/v1/payments", callback=answer, content_type="application/json")
    # when the first card is declined
    declined = _buy(client, checkout, method="pm_card_declined")
    # then the checkout is open again
    assert declined.json()["attempt"]["failure_code"] == "card_declined"
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.OPEN
    # when the shopper tries another card
    paid = _buy(client, checkout)
    # then a second attempt pays
    assert paid.status_code == 201
    assert paid.json()["attempt"]["status"] == "succeeded"
    first, second = PaymentAttempt.objects.order_by("created_at")
    assert (str(first.id), str(second.id)) == (declined.json()["attempt"]["id"], paid.json()["attempt"]["id"])
    # and each attempt went to the PSP once, under its own key: a retry of the first could never
    # be taken for the second, nor the second be refused as a replay of the first
    sent = [(json.loads(call.request.body)["payment_method"], call.request.headers["Idempotency-Key"])
            for call in psp_stub.calls]
    assert sent == [("pm_card_declined", f"bps-payment-{first.id}"), ("pm_card_visa", f"bps-payment-{second.id}")]


def test_a_payment_that_needs_action_sends_the_browser_to_the_psp(client, psp_stub):
    checkout = make_checkout()
    _psp_pays(psp_stub, status="requires_action", next_action={"type": "redirect", "url": "http://psp.test/3ds/x"})
    body = _buy(client, checkout, method="pm_card_3ds").json()
    assert body["attempt"]["status"] == "requires_action"
    assert body["redirect_url"] == "http://psp.test/3ds/x"


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500, "json": {"error": {"code": "internal_error", "message": ""}}},
        {"body": requests.ConnectionError("reset by peer")},
        {"body": requests.ReadTimeout("no answer")},
    ],
)
def test_a_lost_answer_leaves_the_attempt_started_and_due_for_a_poll(client, psp_stub, failure):
    checkout = make_checkout()
    psp_stub.post(f"{PSP}/v1/payments", **failure)
    response = _buy(client, checkout)
    assert response.status_code == 201
    attempt = PaymentAttempt.objects.get()
    assert attempt.status == AttemptStatus.STARTED
    assert attempt.next_poll_at is not None
    # bounded retries, every one with the attempt's own key
    assert [call.request.headers["Idempotency-Key"] for call in psp_stub.calls] == [f"bps-payment-{attempt.id}"] * 3
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.PROCESSING


def test_a_wrong_token_is_a_403_and_changes_nothing(client, psp_stub):
    checkout = make_checkout()
    other = make_checkout()
    response = _buy(client, checkout, token=other.psp_token)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert PaymentAttempt.objects.count() == 0


def test_an_unknown_checkout_is_a_404(client, db):
    response = client.post("/api/checkouts/6f1c0000-0000-4000-8000-000000000000/buy-now/",
                           data={"token": "tok_x", "payment_method": "pm_card_visa"}, content_type="application/json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, "checkout_expired"),
        ({"status": CheckoutStatus.EXPIRED}, "checkout_expired"),
        ({"status": CheckoutStatus.REFUNDED}, "checkout_refunded"),
        ({"status": CheckoutStatus.PARTIALLY_REFUNDED}, "checkout_refunded"),
    ],
)
def test_an_expired_or_refunded_checkout_is_a_409(client, psp_stub, fields, code):
    checkout = make_checkout(**fields)
    if fields.get("status") in (CheckoutStatus.REFUNDED, CheckoutStatus.PARTIALLY_REFUNDED):
        make_attempt(checkout, status=AttemptStatus.SUCCEEDED)
    response = _buy(client, checkout)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == code
    assert len(psp_stub.calls) == 0


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"token": "tok_x", "payment_method": "pm_bitcoin"}, "invalid_payment_method", "payment_method"),
        ({"token": "tok_x", "payment_method": 7}, "invalid_payment_method", "payment_method"),
        ({"token": 5, "payment_method": "pm_card_visa"}, "invalid_request", "token"),
        ({"payment_method": "pm_card_visa"}, "invalid_request", "token"),
    ],
)
def test_bad_buy_now_input_is_a_400(client, psp_stub, body, code, field):
    checkout = make_checkout()
    response = client.post(f"/api/checkouts/{checkout.id}/buy-now/", data=json.dumps(body),
                           content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert field in response.json()["error"]["fields"]
    assert PaymentAttempt.objects.count() == 0


def test_a_psp_refusal_fails_the_attempt_with_its_code(client, psp_stub):
    checkout = make_checkout()
    psp_stub.post(f"{PSP}/v1/payments", status=422,
                  json={"error": {"code": "session_expired", "message": "expired"}})
    body = _buy(client, checkout).json()
    assert body["attempt"] == {"id": body["attempt"]["id"], "status": "failed", "failure_code": "session_expired"}
