"""Concurrency against PostgreSQL: threads racing for one checkout's money.

Each thread is a whole request through Django (its own client and database connection); the
PSP is the real sandbox process.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection
from django.test import Client

from checkout.tests.factories import make_api_key
from payments.models import PaymentAttempt, PspCall
from payments.states import LIVE_ATTEMPT_STATUSES

pytestmark = [pytest.mark.postgres, pytest.mark.sandbox]


def test_fifty_concurrent_buy_now_requests_make_one_payment_and_one_live_attempt(e2e, live_server):
    # given a checkout registered at the real sandbox
    _record, key = make_api_key()
    checkout = requests.post(f"{live_server.url}/api/checkouts/", json={"amount": "12.50", "currency": "EUR"},
                             headers={"Authorization": f"Bearer {key}"}, timeout=30).json()
    start = threading.Barrier(50)

    def click(_):
        browser = Client()
        start.wait()
        try:
            return browser.post(f"/api/checkouts/{checkout['id']}/buy-now/", content_type="application/json",
                                data={"token": checkout["token"], "payment_method": "pm_card_visa"})
        finally:
            connection.close()

    # when 50 browsers press Buy Now at the same moment
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(click, range(50)))
    # then exactly one made an attempt and every other was answered with it
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [200] * 49 + [201]
    assert len({answer.json()["attempt"]["id"] for answer in answers}) == 1
    assert PaymentAttempt.objects.filter(checkout_id=checkout["id"], status__in=LIVE_ATTEMPT_STATUSES).count() == 1
    assert PaymentAttempt.objects.filter(checkout_id=checkout["id"]).count() == 1
    # and the PSP was asked to charge once, and holds one payment for this session
    assert PspCall.objects.filter(checkout_id=checkout["id"], method="POST", path="/v1/payments").count() == 1
    payments = e2e.get(f"/sandbox/sessions/{checkout['token']}/payments")
    assert [payment["status"] for payment in payments["data"]] == ["succeeded"]


def test_concurrent_refunds_never_pass_the_amount_paid(e2e, live_server):
    _record, key = make_api_key()
    headers = {"Authorization": f"Bearer {key}"}
    checkout = requests.post(f"{live_server.url}/api/checkouts/", json={"amount": "10.00", "currency": "EUR"},
                             headers=headers, timeout=30).json()
    requests.post(f"{live_server.url}/api/checkouts/{checkout['id']}/buy-now/",
                  json={"token": checkout["token"], "payment_method": "pm_card_visa"}, timeout=60)
    start = threading.Barrier(20)

    def refund(_):
        storefront = Client(headers=headers)
        start.wait()
        try:
            return storefront.post(f"/api/checkouts/{checkout['id']}/refunds/", data={"amount": "1.00"},
                                   content_type="application/json")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(refund, range(20)))
    assert sorted(answer.status_code for answer in answers) == [201] * 10 + [409] * 10
