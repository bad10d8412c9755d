"""End to end in Stripe mode: a storefront and a shopper meet the live BPS over HTTP, and the BPS
talks to localstripe (a third party's Stripe emulator, a real process) through the test bridge
that answers as Stripe documents (docs/stripe-emulator.md). Where the outcome comes later, a real
Celery worker applies Stripe's webhooks, or polls Stripe when there are none."""

import re
import threading
import time
from urllib.parse import urljoin

import pytest
import requests

from checkout.tests.factories import make_api_key
from payments.models import PaymentAttempt, PspCall
from paysite.tests.processes import STRIPE_SECRET_KEY
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.stripe_emulator

DECLINED_AT_CHARGE = "4000000000000341"
THREE_D_SECURE = "4000002760003184"
SEPA_SETTLES = "DE89370400440532013000"


@pytest.fixture
def shop(stripe_e2e, live_server):
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


def buy(shop, checkout, method):
    return requests.post(f"{shop.base}/api/checkouts/{checkout['id']}/buy-now/",
                         json={"token": checkout["token"], "payment_method": method}, timeout=60)


def checkout_now(shop, checkout):
    return shop.get(f"{shop.base}/api/checkouts/{checkout['id']}/", timeout=10).json()


def wait_for(condition, timeout=60.0, every=0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met in time")


def test_a_visa_payment_succeeds_and_its_stripe_calls_are_on_the_timeline_without_secrets(shop, stripe_e2e):
    checkout = shop.start()
    assert checkout["token"].startswith("pi_")
    answer = buy(shop, checkout, "pm_card_visa")
    assert answer.status_code == 201 and answer.json()["attempt"]["status"] == "succeeded"
    body = checkout_now(shop, checkout)
    assert body["status"] == "paid"
    assert body["payment"]["psp_payment_id"] == checkout["token"]
    intent = stripe_e2e.get(f"/v1/payment_intents/{checkout['token']}")
    assert (intent["status"], intent["amount"], intent["currency"]) == ("succeeded", 1250, "eur")
    calls = list(PspCall.objects.filter(checkout_id=checkout["id"]).order_by("created_at"))
    assert [(call.method, re.sub(r"pi_\w+", "{pi}", call.path)) for call in calls] == [
        ("POST", "/v1/payment_intents"), ("POST", "/v1/payment_intents/{pi}"),
        ("POST", "/v1/payment_intents/{pi}/confirm"),
    ]
    recorded = repr([(c.request_body, c.response_body, c.error, c.path) for c in calls])
    assert STRIPE_SECRET_KEY not in recorded and intent["client_secret"] not in recorded


def test_a_card_declined_at_charge_time_fails_then_another_card_pays_the_same_payment_intent(shop, stripe_e2e):
    checkout = shop.start()
    declined = buy(shop, checkout, stripe_e2e.create_payment_method(card_number=DECLINED_AT_CHARGE)).json()
    assert declined["attempt"]["status"] == "failed"
    assert declined["attempt"]["failure_code"] == "generic_decline"  # Stripe's decline_code
    assert checkout_now(shop, checkout)["status"] == "open"
    paid = buy(shop, checkout, "pm_card_visa")
    assert paid.status_code == 201 and paid.json()["attempt"]["status"] == "succeeded"
    assert checkout_now(shop, checkout)["status"] == "paid"
    attempts = PaymentAttempt.objects.filter(checkout_id=checkout["id"])
    assert sorted(attempts.values_list("status", flat=True)) == ["failed", "succeeded"]
    assert {a.psp_payment_id for a in attempts} == {checkout["token"]}


@pytest.mark.parametrize(("button", "final"), [("true", "succeeded"), ("false", "failed")])
def test_3d_secure_is_passed_or_failed_on_the_challenge_page_and_the_return_page_learns_it(
    shop, stripe_e2e, button, final,
):
    checkout = shop.start()
    answer = buy(shop, checkout, stripe_e2e.create_payment_method(card_number=THREE_D_SECURE)).json()
    assert answer["attempt"]["status"] == "requires_action"
    assert answer["redirect_url"].startswith(f"{stripe_e2e.url}/3ds/")
    # the shopper's browser: the issuer's challenge page, then back to our return page
    browser = requests.Session()
    page = browser.get(answer["redirect_url"], timeout=10)
    assert page.status_code == 200
    result = browser.post(answer["redirect_url"], data={"success": button}, timeout=30)
    assert result.history[0].headers["Location"].startswith(f"{shop.base}/checkout/{checkout['id']}/return/")
    assert result.url == f"{shop.base}/checkout/{checkout['id']}/result/"
    assert f'data-status="{final}"' in result.text
    attempt = PaymentAttempt.objects.get(checkout_id=checkout["id"])
    assert attempt.status == final
    if final == "failed":
        assert attempt.failure_code == "payment_intent_authentication_failure"


def test_a_sepa_debit_is_pending_then_paid_by_stripes_webhook(shop, stripe_e2e, stripe_worker):
    checkout = shop.start()
    answer = buy(shop, checkout, stripe_e2e.create_payment_method(iban=SEPA_SETTLES)).json()
    assert answer["attempt"]["status"] == "pending"
    assert checkout_now(shop, checkout)["status"] == "processing"
    wait_for(lambda: checkout_now(shop, checkout)["status"] == "paid", timeout=30)
    succeeded = wait_for(lambda: WebhookEvent.objects.filter(
        provider="stripe", type="payment_intent.succeeded", psp_object_id=checkout["token"]).first())
    assert succeeded.event_id.startswith("evt_")


def test_a_sepa_debit_is_paid_by_polling_alone_when_no_webhook_arrives(shop, stripe_e2e, stripe_worker):
    with stripe_e2e.webhooks_off():
        checkout = shop.start()
        answer = buy(shop, checkout, stripe_e2e.create_payment_method(iban=SEPA_SETTLES)).json()
        assert answer["attempt"]["status"] == "pending"
        wait_for(lambda: checkout_now(shop, checkout)["status"] == "paid", timeout=45)
    assert not WebhookEvent.objects.filter(psp_object_id=checkout["token"]).exists()


def test_a_partial_then_a_full_refund(shop, stripe_e2e):
    checkout = shop.start()
    assert buy(shop, checkout, "pm_card_visa").json()["attempt"]["status"] == "succeeded"
    refunds_url = f"{shop.base}/api/checkouts/{checkout['id']}/refunds/"
    first = shop.post(refunds_url, json={"amount": "5.00", "reason": "one item back"}, timeout=30)
    assert first.status_code == 201 and first.json()["status"] == "succeeded", first.text
    assert checkout_now(shop, checkout)["status"] == "partially_refunded"
    rest = shop.post(refunds_url, json={"amount": "7.50"}, timeout=30)
    assert rest.status_code == 201 and rest.json()["status"] == "succeeded", rest.text
    body = checkout_now(shop, checkout)
    assert (body["status"], body["payment"]["refunded_amount"]) == ("refunded", "12.50")
    charge = stripe_e2e.get(f"/v1/payment_intents/{checkout['token']}?expand[]=latest_charge")["latest_charge"]
    assert charge["amount_refunded"] == 1250
    too_much = shop.post(refunds_url, json={"amount": "0.01"}, timeout=30)
    assert too_much.status_code == 409


def test_twenty_concurrent_buy_now_clicks_confirm_once(shop, stripe_e2e):
    checkout = shop.start()
    statuses = []
    barrier = threading.Barrier(20)

    def click():
        barrier.wait()
        statuses.append(buy(shop, checkout, "pm_card_visa").status_code)

    threads = [threading.Thread(target=click) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 19 + [201]
    assert PaymentAttempt.objects.filter(checkout_id=checkout["id"]).count() == 1
    confirmations = PspCall.objects.filter(checkout_id=checkout["id"], path__endswith="/confirm")
    assert confirmations.count() == 1
    assert checkout_now(shop, checkout)["status"] == "paid"


def test_the_purchase_page_pays_with_a_test_button_in_stripe_mode(shop, stripe_e2e):
    checkout = shop.start()
    browser = requests.Session()
    page = browser.get(checkout["purchase_url"], timeout=10)
    assert page.status_code == 200 and 'value="pm_card_visa"' in page.text
    form = re.search(r'<form[^>]*action="([^"]*buy-now[^"]*)"[^>]*>(.*?)</form>', page.text, re.S)
    assert form is not None
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.group(2)))
    fields["payment_method"] = "pm_card_visa"
    result = browser.post(urljoin(page.url, form.group(1)), data=fields, timeout=30,
                          headers={"Referer": page.url})
    assert result.url == f"{shop.base}/checkout/{checkout['id']}/result/"
    assert 'data-status="succeeded"' in result.text


def test_the_mid_office_shows_the_payments_psp_and_its_stripe_calls_redacted(shop, stripe_e2e, client, operator):
    checkout = shop.start()
    assert buy(shop, checkout, "pm_card_visa").json()["attempt"]["status"] == "succeeded"
    client_secret = stripe_e2e.get(f"/v1/payment_intents/{checkout['token']}")["client_secret"]
    attempt = PaymentAttempt.objects.get(checkout_id=checkout["id"])
    checkout_page = client.get(f"/admin/checkout/checkout/{checkout['id']}/change/")
    attempt_page = client.get(f"/admin/payments/paymentattempt/{attempt.id}/change/")
    assert checkout_page.status_code == attempt_page.status_code == 200
    shown = checkout_page.content.decode() + attempt_page.content.decode()
    assert "Stripe" in attempt_page.content.decode()
    assert f"/v1/payment_intents/{checkout['token']}/confirm" in checkout_page.content.decode()  # on the timeline
    assert client_secret not in shown and STRIPE_SECRET_KEY not in shown
