"""End to end, the way a storefront and a shopper meet the BPS: over HTTP to the live BPS, which
talks to the real sandbox PSP process. No worker here: these outcomes need none."""

import re

import pytest
import requests

from checkout.tests.factories import make_api_key
from payments.models import PaymentAttempt
from payments.states import AttemptStatus, CheckoutStatus

pytestmark = pytest.mark.sandbox


@pytest.fixture
def shop(e2e, live_server):
    """The storefront's side: an API client with a key, against the live BPS."""
    _record, key = make_api_key()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"

    def start(amount="12.50", currency="EUR", **extra):
        response = session.post(f"{live_server.url}/api/checkouts/",
                                json={"amount": amount, "currency": currency, **extra}, timeout=30)
        assert response.status_code == 201, response.text
        return response.json()

    session.start = start  # type: ignore[attr-defined]
    session.base = live_server.url  # type: ignore[attr-defined]
    return session


def buy(base, checkout, method):
    return requests.post(f"{base}/api/checkouts/{checkout['id']}/buy-now/",
                         json={"token": checkout["token"], "payment_method": method}, timeout=60)


def status_of(shop, checkout):
    return shop.get(f"{shop.base}/api/checkouts/{checkout['id']}/", timeout=10).json()


def test_visa_succeeds(shop, sandbox):
    checkout = shop.start()
    response = buy(shop.base, checkout, "pm_card_visa")
    assert response.status_code == 201
    assert response.json()["attempt"]["status"] == "succeeded"
    body = status_of(shop, checkout)
    assert body["status"] == "paid"
    assert body["payment"]["psp_payment_id"].startswith("pay_")
    assert sandbox.get(f"/v1/sessions/{checkout['token']}")["status"] == "completed"


def test_declined_then_visa_succeeds(shop):
    checkout = shop.start()
    declined = buy(shop.base, checkout, "pm_card_declined").json()
    assert (declined["attempt"]["status"], declined["attempt"]["failure_code"]) == ("failed", "card_declined")
    assert status_of(shop, checkout)["status"] == "open"
    paid = buy(shop.base, checkout, "pm_card_visa")
    assert paid.status_code == 201 and paid.json()["attempt"]["status"] == "succeeded"
    assert status_of(shop, checkout)["status"] == "paid"
    assert PaymentAttempt.objects.filter(checkout_id=checkout["id"]).count() == 2


@pytest.mark.parametrize(("button", "final"), [("approve", "succeeded"), ("decline", "failed")])
def test_3ds_is_approved_or_declined_on_the_psps_page(shop, button, final):
    checkout = shop.start()
    answer = buy(shop.base, checkout, "pm_card_3ds").json()
    assert answer["attempt"]["status"] == "requires_action"
    browser = requests.Session()
    # the shopper's browser opens the PSP's page and presses a button
    page = browser.get(answer["redirect_url"], timeout=10)
    action = re.search(rf'action="([^"]*{button}[^"]*)"', page.text).group(1)
    result = browser.post(requests.compat.urljoin(answer["redirect_url"], action), timeout=30)
    # the PSP sent it back to our return page, which sent it on to the result page
    assert [r.status_code for r in result.history] == [303, 303]
    assert result.url == f"{shop.base}/checkout/{checkout['id']}/result/"
    assert f'data-status="{final}"' in result.text
    attempt = PaymentAttempt.objects.get(checkout_id=checkout["id"])
    assert attempt.status == final
    if final == "failed":
        assert attempt.failure_code == "authentication_failed"


def test_a_bank_transfer_stays_processing(shop):
    checkout = shop.start()
    answer = buy(shop.base, checkout, "pm_bank_transfer").json()
    assert answer["attempt"]["status"] == "pending"
    page = requests.get(answer["redirect_url"], timeout=10)
    assert 'data-status="processing"' in page.text and 'http-equiv="refresh"' in page.text
    assert status_of(shop, checkout)["status"] == "processing"


@pytest.mark.parametrize("fault", ["error_after", "drop_after"])
def test_with_the_answer_lost_there_is_still_exactly_one_charge(shop, sandbox, fault):
    # given every try of Buy Now is charged at the PSP but its answer is lost
    checkout = shop.start()
    sandbox.faults({"path": "/v1/payments", "fault": fault, "times": 3})
    answer = buy(shop.base, checkout, "pm_card_visa")
    # then the attempt is left started, and the PSP has made one payment
    assert answer.status_code == 201 and answer.json()["attempt"]["status"] == "started"
    session = sandbox.get(f"/v1/sessions/{checkout['token']}")
    payment = session["latest_payment"]
    assert payment["status"] == "succeeded"
    assert payment["metadata"]["attempt_id"] == answer.json()["attempt"]["id"]
    # a second click charges nothing more
    again = buy(shop.base, checkout, "pm_card_visa")
    assert again.status_code == 200 and again.json()["attempt"]["id"] == answer.json()["attempt"]["id"]
    # when the PSP is asked (here: the shopper's result page, after a few seconds)
    PaymentAttempt.objects.filter(id=answer.json()["attempt"]["id"]).update(
        updated_at=PaymentAttempt.objects.get().created_at.replace(year=2000))
    page = requests.get(answer.json()["redirect_url"], timeout=30)
    # then the attempt is resolved to the PSP's truth
    assert 'data-status="succeeded"' in page.text
    attempt = PaymentAttempt.objects.get()
    assert (attempt.status, attempt.psp_payment_id) == (AttemptStatus.SUCCEEDED, payment["id"])
    assert attempt.checkout.status == CheckoutStatus.PAID
    charges = sandbox.get(f"/sandbox/sessions/{checkout['token']}/payments")["data"]
    assert [charge["id"] for charge in charges] == [payment["id"]]
