"""POST /api/checkouts/{id}/refunds/ and the refund's life after it."""

import json
from decimal import Decimal

import pytest
import requests

from checkout.tests.factories import make_checkout
from payments.models import Refund
from payments.psp.parse import refund_from
from payments.refunds import refund_apply, refund_sync
from payments.states import AttemptStatus, CheckoutStatus, RefundStatus
from payments.tests.factories import PSP, make_attempt, refund_json
from payments.transitions import Cause

pytestmark = pytest.mark.django_db



@pytest.fixture
def paid():
    checkout = make_checkout(status=CheckoutStatus.PAID)
    attempt = make_attempt(checkout, status=AttemptStatus.SUCCEEDED, psp_payment_id="pay_1", psp_version=1)
    return checkout, attempt


def _refund(client, checkout, amount="5.00", **headers):
    return client.post(f"/api/checkouts/{checkout.id}/refunds/", data=json.dumps({"amount": amount, "reason": "asked"}),
                       content_type="application/json", **headers)


def test_a_partial_refund_is_sent_with_its_own_key_and_follows_the_psp(api_client, psp_stub, paid):
    checkout, _attempt = paid
    psp_stub.post(f"{PSP}/v1/payments/pay_1/refunds", json=refund_json("pay_1", id="re_1"), status=201)
    response = _refund(api_client, checkout)
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["amount"], body["psp_refund_id"]) == ("pending", "5.00", "re_1")
    refund = Refund.objects.get()
    assert psp_stub.calls[0].request.headers["Idempotency-Key"] == refund.idempotency_key
    assert json.loads(psp_stub.calls[0].request.body) == {"amount": "5.00", "currency": "EUR", "reason": "asked"}
    # when the PSP later says it succeeded
    refund_apply(refund_id=refund.id, answer=refund_from(refund_json("pay_1", id="re_1", status="succeeded")),
                 cause=Cause(kind="webhook"))
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.PARTIALLY_REFUNDED
    assert checkout.attempts.get().refunded_amount == Decimal("5.00")
    assert api_client.get(f"/api/checkouts/{checkout.id}/").json()["payment"]["refunded_amount"] == "5.00"


def test_refunds_can_never_pass_the_amount_paid(api_client, psp_stub, paid):
    checkout, _attempt = paid
    psp_stub.post(f"{PSP}/v1/payments/pay_1/refunds", json=refund_json("pay_1", amount="10.00"), status=201)
    assert _refund(api_client, checkout, "10.00").status_code == 201
    response = _refund(api_client, checkout, "2.51")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "refund_exceeds_payment"
    assert Refund.objects.count() == 1


@pytest.mark.parametrize("amount", ["5", "5.001", "0.00", "-1.00", 5])
def test_a_bad_refund_amount_is_a_400(api_client, psp_stub, paid, amount):
    checkout, _attempt = paid
    response = _refund(api_client, checkout, amount)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_amount"
    assert Refund.objects.count() == 0


def test_an_unpaid_checkout_cannot_be_refunded(api_client, psp_stub):
    checkout = make_checkout()
    response = _refund(api_client, checkout)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_refundable"


def test_the_storefront_needs_its_key_to_refund(client, paid):
    checkout, _attempt = paid
    assert _refund(client, checkout).status_code == 401


def test_a_refund_refused_by_the_psp_fails(api_client, psp_stub, paid):
    checkout, _attempt = paid
    psp_stub.post(f"{PSP}/v1/payments/pay_1/refunds", status=422,
                  json={"error": {"code": "payment_not_refundable", "message": ""}})
    body = _refund(api_client, checkout).json()
    assert (body["status"], body["failure_code"]) == ("failed", "payment_not_refundable")


def test_a_refund_whose_answer_was_lost_is_sent_again_with_the_same_key(api_client, psp_stub, paid):
    checkout, _attempt = paid
    psp_stub.post(f"{PSP}/v1/payments/pay_1/refunds", body=requests.ConnectionError("reset"))
    assert _refund(api_client, checkout).json()["status"] == "started"
    psp_stub.replace("POST", f"{PSP}/v1/payments/pay_1/refunds", json=refund_json("pay_1", id="re_1"), status=200)
    refund = refund_sync(refund_id=Refund.objects.get().id, cause=Cause(kind="poll"))
    assert (refund.status, refund.psp_refund_id) == (RefundStatus.PENDING, "re_1")
    assert len({call.request.headers["Idempotency-Key"] for call in psp_stub.calls}) == 1


def test_refund_idempotency_replays(api_client, psp_stub, paid):
    checkout, _attempt = paid
    psp_stub.post(f"{PSP}/v1/payments/pay_1/refunds", json=refund_json("pay_1"), status=201)
    first = _refund(api_client, checkout, HTTP_IDEMPOTENCY_KEY="refund-1")
    again = _refund(api_client, checkout, HTTP_IDEMPOTENCY_KEY="refund-1")
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert Refund.objects.count() == 1
