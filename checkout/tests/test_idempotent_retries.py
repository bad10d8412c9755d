"""A retried storefront request never does its work twice: the Idempotency-Key decides the
identity of the checkout or refund it creates, and a retry after a crash, a timeout or a 5xx
resumes that row (same id, same PSP request key) instead of starting again."""

import json
import threading
from datetime import timedelta

import pytest
import requests
import time_machine
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from checkout.models import Checkout, IdempotencyRecord
from checkout.tests.factories import make_api_key, make_checkout
from payments.models import Refund
from payments.states import AttemptStatus, CheckoutStatus, RefundStatus
from payments.tests.factories import PSP, make_attempt, refund_json, session_json

REFUNDS = f"{PSP}/v1/payments/pay_1/refunds"
BODY = {"amount": "12.50", "currency": "EUR", "reference": "order-1042"}


@pytest.fixture
def paid(db):
    checkout = make_checkout(status=CheckoutStatus.PAID)
    make_attempt(checkout, status=AttemptStatus.SUCCEEDED, psp_payment_id="pay_1", psp_version=1)
    return checkout


def _refund(client, checkout, key, amount="5.00"):
    return client.post(f"/api/checkouts/{checkout.id}/refunds/", data=json.dumps({"amount": amount, "reason": "asked"}),
                       content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)


def _create(client, key):
    return client.post("/api/checkouts/", data=json.dumps(BODY), content_type="application/json",
                       HTTP_IDEMPOTENCY_KEY=key)


def _keys_sent(stub, url):
    return [call.request.headers["Idempotency-Key"] for call in stub.calls if call.request.url == url]


class WorkerKilled(SystemExit):
    """What gunicorn raises in a worker it kills for taking too long (SIGABRT → sys.exit(1))."""


def _dies_then_answers(answer):
    calls = []

    def callback(request):
        calls.append(request)
        if len(calls) == 1:
            raise WorkerKilled(1)  # the PSP is slow; the web worker is killed while it waits
        return 201, {}, json.dumps(answer)

    return callback


def test_a_refund_whose_worker_died_after_the_commit_is_resumed_not_repeated(api_client, psp_stub, paid, settings):
    # given a refund request whose worker was killed while the PSP answered (the row is committed)
    psp_stub.add_callback("POST", REFUNDS, callback=_dies_then_answers(refund_json("pay_1", id="re_1")))
    with pytest.raises(WorkerKilled):
        _refund(api_client, paid, "refund-1")
    assert Refund.objects.count() == 1
    # when the storefront retries at once, the key is still held
    assert _refund(api_client, paid, "refund-1").status_code == 409
    # and when it retries after the dead request's claim has lapsed
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.IDEMPOTENCY_TAKEOVER_AFTER + 1)):
        response = _refund(api_client, paid, "refund-1")
    # then the same refund is resumed: one row, sent again with its own key only
    assert response.status_code == 201
    refund = Refund.objects.get()
    assert response.json()["id"] == str(refund.id)
    assert response.json()["psp_refund_id"] == "re_1"
    assert _keys_sent(psp_stub, REFUNDS) == [refund.idempotency_key] * 2


def test_a_refund_answered_500_is_resumed_by_the_retry_without_a_second_row(api_client, psp_stub, paid):
    # given a refund whose PSP exchange broke in a way nobody expected: a 500 after the row commit
    calls = []

    def breaks_once(request):
        calls.append(request)
        if len(calls) == 1:
            raise RuntimeError("the PSP's TLS library crashed")
        return 201, {}, json.dumps(refund_json("pay_1", id="re_1"))

    psp_stub.add_callback("POST", REFUNDS, callback=breaks_once)
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=api_client._credentials["HTTP_AUTHORIZATION"])
    assert _refund(client, paid, "refund-2").status_code == 500
    # when the storefront retries with the same key
    response = _refund(client, paid, "refund-2")
    # then the first refund is the answer, and the PSP saw one refund key
    assert response.status_code == 201
    refund = Refund.objects.get()
    assert response.json()["id"] == str(refund.id)
    assert _keys_sent(psp_stub, REFUNDS) == [refund.idempotency_key] * 2


def test_a_checkout_answered_503_is_retried_under_the_same_id_and_session_key(api_client, psp_stub):
    # given a PSP that registered the session but whose answers were lost (503 to the storefront)
    psp_stub.post(f"{PSP}/v1/sessions", body=requests.ConnectionError("answer lost"))
    assert _create(api_client, "order-1042").status_code == 503
    # when the storefront retries with the same key and the PSP answers
    psp_stub.replace("POST", f"{PSP}/v1/sessions", json=session_json(token="tok_1"), status=201)
    response = _create(api_client, "order-1042")
    # then every try asked for the same session, and the checkout carries the key's id
    assert response.status_code == 201
    sent = [json.loads(call.request.body)["checkout_id"] for call in psp_stub.calls]
    assert len(set(sent)) == 1
    assert set(_keys_sent(psp_stub, f"{PSP}/v1/sessions")) == {f"bps-session-{sent[0]}"}
    assert Checkout.objects.get().id == IdempotencyRecord.objects.get().resource_id
    assert response.json()["id"] == sent[0]


def test_a_checkout_whose_worker_died_after_the_commit_is_answered_from_its_row(api_client, psp_stub, settings):
    # given a checkout stored under a key whose request then died before answering
    psp_stub.post(f"{PSP}/v1/sessions", json=session_json(token="tok_1"), status=201)
    assert _create(api_client, "order-7").status_code == 201
    IdempotencyRecord.objects.update(state=IdempotencyRecord.State.IN_PROGRESS, response_body=None,
                                     response_status=None)
    # when the storefront retries after the claim lapsed
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.IDEMPOTENCY_TAKEOVER_AFTER + 1)):
        response = _create(api_client, "order-7")
    # then the stored checkout is the answer; the PSP was not asked again
    assert response.status_code == 201
    assert response.json()["id"] == str(Checkout.objects.get().id)
    assert len(psp_stub.calls) == 1


def test_the_same_key_from_two_storefronts_is_two_keys(api_client, psp_stub):
    # given storefront A made a checkout under key "k"
    psp_stub.add_callback("POST", f"{PSP}/v1/sessions", callback=lambda request: (
        201, {}, json.dumps(session_json(token=f"tok_{len(psp_stub.calls)}"))))
    first = _create(api_client, "k")
    # when storefront B uses the same key
    _record, key_b = make_api_key("shop-b")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {key_b}")
    second = _create(other, "k")
    # then B gets a checkout of its own, not A's replayed
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert "Idempotent-Replayed" not in second.headers
    assert Checkout.objects.get(id=second.json()["id"]).storefront.name == "shop-b"


@pytest.mark.postgres
def test_ten_concurrent_retries_of_a_dead_refund_resume_it_once(transactional_db, psp_stub, settings):
    # given a paid checkout and a refund request that died after its commit
    _record, key = make_api_key()
    checkout = make_checkout(status=CheckoutStatus.PAID)
    make_attempt(checkout, status=AttemptStatus.SUCCEEDED, psp_payment_id="pay_1", psp_version=1)
    psp_stub.add_callback("POST", REFUNDS, callback=_dies_then_answers(refund_json("pay_1", id="re_1")))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    with pytest.raises(WorkerKilled):
        _refund(client, checkout, "refund-3")
    # when ten retries arrive at once, after the claim lapsed
    later = timezone.now() + timedelta(seconds=settings.IDEMPOTENCY_TAKEOVER_AFTER + 1)
    statuses, barrier = [], threading.Barrier(10)

    def retry():
        retrying = APIClient()
        retrying.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        barrier.wait()
        try:
            statuses.append(_refund(retrying, checkout, "refund-3").status_code)
        finally:
            connection.close()

    with time_machine.travel(later, tick=True):
        threads = [threading.Thread(target=retry) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    # then one refund row, sent with one key, and every answer is that refund or "in progress"
    refund = Refund.objects.get()
    assert refund.status == RefundStatus.PENDING
    assert set(statuses) <= {201, 409} and 201 in statuses
    assert _keys_sent(psp_stub, REFUNDS) == [refund.idempotency_key] * 2
