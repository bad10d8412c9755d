"""The shopper's pages with Django's test client; the PSP replaced at its HTTP boundary."""

import json
import logging
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from checkout.models import Checkout
from checkout.tests.factories import make_checkout
from payments.models import PaymentAttempt
from payments.states import AttemptStatus, CheckoutStatus
from payments.tests.factories import PSP, make_attempt, payment_json, session_json

pytestmark = pytest.mark.django_db



@pytest.fixture
def browser():
    return Client(enforce_csrf_checks=True)


def _csrf(browser, path):
    browser.get(path)
    return browser.cookies["csrftoken"].value


def test_the_storefront_lists_products_and_a_button_starts_a_checkout(browser, psp_stub):
    psp_stub.post(f"{PSP}/v1/sessions", json=session_json(token="tok_demo"), status=201)
    page = browser.get("/")
    assert page.status_code == 200 and b"Enamel mug" in page.content
    token = browser.cookies["csrftoken"].value
    response = browser.post("/", {"product": "mug", "csrfmiddlewaretoken": token})
    checkout = Checkout.objects.get()
    assert response.status_code == 303
    assert response["Location"] == f"/checkout/{checkout.id}/"
    assert (checkout.amount, checkout.currency) == (12.5, "EUR")
    assert checkout.reference == f"demo-mug-{str(checkout.id)[:8]}"


def test_the_storefront_says_so_when_the_psp_is_down(browser, psp_stub):
    psp_stub.post(f"{PSP}/v1/sessions", status=500, json={"error": {"code": "internal_error", "message": ""}})
    token = _csrf(browser, "/")
    response = browser.post("/", {"product": "mug", "csrfmiddlewaretoken": token})
    assert response.status_code == 503
    assert b"cannot register payments" in response.content
    assert Checkout.objects.count() == 0


def test_the_purchase_page_carries_the_token_and_the_methods_in_plain_words(browser):
    checkout = make_checkout()
    page = browser.get(f"/checkout/{checkout.id}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert f'value="{checkout.psp_token}"' in html
    assert "Visa: succeeds" in html and "Bank transfer: settles later" in html
    assert 'name="viewport"' in html and "csrfmiddlewaretoken" in html


def test_buy_now_without_a_csrf_token_is_refused(browser):
    checkout = make_checkout()
    response = browser.post(f"/checkout/{checkout.id}/buy-now/", {"token": checkout.psp_token,
                                                                    "payment_method": "pm_card_visa"})
    assert response.status_code == 403
    assert PaymentAttempt.objects.count() == 0


def _pays(psp_stub, **fields):
    def answer(request):
        sent = json.loads(request.body)
        return 201, {}, json.dumps(payment_json(token=sent["token"], metadata=sent["metadata"], **fields))

    psp_stub.add_callback("POST", f"{PSP}/v1/payments", callback=answer, content_type="application/json")


def test_the_form_pays_and_redirects_to_the_result_page(browser, psp_stub):
    checkout = make_checkout()
    _pays(psp_stub, status="succeeded")
    token = _csrf(browser, f"/checkout/{checkout.id}/")
    response = browser.post(f"/checkout/{checkout.id}/buy-now/", {
        "token": checkout.psp_token, "payment_method": "pm_card_visa", "csrfmiddlewaretoken": token})
    assert response.status_code == 303
    assert response["Location"] == f"http://127.0.0.1:8000/checkout/{checkout.id}/result/"
    result = browser.get(f"/checkout/{checkout.id}/result/")
    assert b'data-status="succeeded"' in result.content
    assert b"http-equiv=\"refresh\"" not in result.content


def test_the_form_sends_the_shopper_to_the_psp_page_for_3ds(browser, psp_stub):
    checkout = make_checkout()
    _pays(psp_stub, status="requires_action", next_action={"type": "redirect", "url": "http://psp.test/3ds/p"})
    token = _csrf(browser, f"/checkout/{checkout.id}/")
    response = browser.post(f"/checkout/{checkout.id}/buy-now/", {
        "token": checkout.psp_token, "payment_method": "pm_card_3ds", "csrfmiddlewaretoken": token})
    assert response["Location"] == "http://psp.test/3ds/p"


def test_a_wrong_token_in_the_form_shows_an_error_and_changes_nothing(browser, psp_stub):
    checkout = make_checkout()
    token = _csrf(browser, f"/checkout/{checkout.id}/")
    response = browser.post(f"/checkout/{checkout.id}/buy-now/", {
        "token": "tok_forged", "payment_method": "pm_card_visa", "csrfmiddlewaretoken": token})
    assert response.status_code == 403
    assert b"does not belong" in response.content
    assert PaymentAttempt.objects.count() == 0


def test_the_return_page_asks_the_psp_and_trusts_no_query_parameter(browser, psp_stub):
    # given an attempt waiting for 3-D Secure
    checkout = make_checkout()
    attempt = make_attempt(checkout, status=AttemptStatus.REQUIRES_ACTION, psp_payment_id="pay_1", psp_version=1)
    psp_stub.get(f"{PSP}/v1/payments/pay_1", json=payment_json(attempt, id="pay_1", status="failed", version=2,
                                                             failure_code="authentication_failed"))
    # when the browser comes back claiming success in the query string
    response = browser.get(f"/checkout/{checkout.id}/return/?status=succeeded&payment_id=pay_forged")
    # then what counts is the PSP's own answer about our own attempt
    assert response.status_code == 303
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.FAILED
    assert [call.request.url for call in psp_stub.calls] == [f"{PSP}/v1/payments/pay_1"]
    page = browser.get(response["Location"])
    assert b'data-status="failed"' in page.content and b"Try again" in page.content


def test_reloading_the_return_page_asks_the_psp_once_per_throttle_window(browser, psp_stub):
    # given an attempt waiting for 3-D Secure that the PSP still reports as waiting
    checkout = make_checkout()
    attempt = make_attempt(checkout, status=AttemptStatus.REQUIRES_ACTION, psp_payment_id="pay_1", psp_version=1)
    psp_stub.get(f"{PSP}/v1/payments/pay_1", json=payment_json(attempt, id="pay_1", status="requires_action",
                                                             version=1))
    # when anyone holding its URL loads the return page ten times in a row
    for _ in range(10):
        assert browser.get(f"/checkout/{checkout.id}/return/").status_code == 303
    # then the PSP was asked once, not ten times
    assert len(psp_stub.calls) == 1


def test_the_processing_page_refreshes_itself(browser):
    checkout = make_checkout()
    make_attempt(checkout, status=AttemptStatus.PENDING, psp_payment_id="pay_1", psp_version=1)
    page = browser.get(f"/checkout/{checkout.id}/result/")
    assert b'data-status="processing"' in page.content
    assert b'http-equiv="refresh"' in page.content


def test_the_result_page_learns_a_lost_answer_from_the_session(browser, psp_stub):
    # given an attempt whose Buy Now answer was lost a while ago
    checkout = make_checkout()
    attempt = make_attempt(checkout)
    PaymentAttempt.objects.filter(id=attempt.id).update(updated_at=timezone.now() - timedelta(seconds=10))
    psp_stub.get(f"{PSP}/v1/sessions/{checkout.psp_token}", json=session_json(
        checkout, status="completed", latest_payment=payment_json(attempt, status="succeeded")))
    # when the shopper's result page refreshes
    page = browser.get(f"/checkout/{checkout.id}/result/")
    # then it asked the PSP and shows the truth
    assert b'data-status="succeeded"' in page.content
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.PAID


def test_after_success_the_shopper_goes_to_the_shops_success_url(browser):
    checkout = make_checkout(success_url="http://127.0.0.1:8000/thanks")
    make_attempt(checkout, status=AttemptStatus.SUCCEEDED)
    page = browser.get(f"/checkout/{checkout.id}/result/").content.decode()
    assert 'content="5;url=http://127.0.0.1:8000/thanks"' in page
    assert 'href="http://127.0.0.1:8000/thanks"' in page


def test_an_expired_checkout_cannot_be_paid_from_its_page(browser):
    checkout = make_checkout(expires_at=timezone.now() - timedelta(minutes=1))
    page = browser.get(f"/checkout/{checkout.id}/")
    assert b"has expired" in page.content and b"Buy Now" not in page.content


def test_an_unknown_checkout_page_is_a_404(browser):
    assert browser.get("/checkout/6f1c0000-0000-4000-8000-000000000000/").status_code == 404


@pytest.mark.parametrize(("code", "sentence"), [
    ("card_declined", "Your card was declined by your bank."),
    ("authentication_failed", "The payment was not approved in your bank&#x27;s 3-D Secure check."),
    ("something_new", "The payment did not go through."),
])
def test_a_failed_payment_is_told_in_a_sentence_with_the_code_kept_for_support(browser, code, sentence):
    # given an attempt the PSP failed with a code
    checkout = make_checkout()
    make_attempt(checkout, status=AttemptStatus.FAILED, failure_code=code, payment_method="pm_card_declined")
    # when the shopper reads the result page
    page = browser.get(f"/checkout/{checkout.id}/result/").content.decode()
    # then a sentence tells what happened, and the raw code is only the small reference for support
    assert sentence in page
    assert f"({code})" not in page
    assert f"Reference for support: <code>{code}</code>" in page


def test_the_purchase_page_after_a_failure_says_why_in_words(browser):
    checkout = make_checkout()
    make_attempt(checkout, status=AttemptStatus.FAILED, failure_code="insufficient_funds")
    page = browser.get(f"/checkout/{checkout.id}/").content.decode()
    assert "does not have enough funds" in page and "(insufficient_funds)" not in page


def test_the_result_page_names_the_method_instead_of_repeating_its_choosing_instructions(browser):
    # given an approved 3-D Secure payment
    checkout = make_checkout(status=CheckoutStatus.PAID)
    make_attempt(checkout, status=AttemptStatus.SUCCEEDED, payment_method="pm_card_3ds")
    # when the shopper reads the result page
    page = browser.get(f"/checkout/{checkout.id}/result/").content.decode()
    # then the method is named plainly
    assert "Card with 3-D Secure ·" in page and "asks you to approve" not in page


def test_the_result_page_before_any_attempt_sends_back_to_the_purchase_page_and_an_unknown_id_is_404(browser):
    # given a checkout nobody tried to pay yet (its page reads the checkout alone)
    checkout = make_checkout()
    # when its result page, and that of an id that is no checkout, are asked for
    before = browser.get(f"/checkout/{checkout.id}/result/")
    unknown = browser.get("/checkout/00000000-0000-4000-8000-000000000000/result/")
    # then the first goes back to the purchase page, the second is not found
    assert (before.status_code, before["Location"]) == (302, f"/checkout/{checkout.id}/")
    assert unknown.status_code == 404


def test_each_demo_order_of_one_product_gets_its_own_reference(browser, psp_stub):
    # given the PSP registers every session
    def session(request):
        return 201, {}, json.dumps(session_json(amount="18.00"))

    psp_stub.add_callback("POST", f"{PSP}/v1/sessions", callback=session, content_type="application/json")
    token = _csrf(browser, "/")
    # when a shopper buys the notebook three times
    for _ in range(3):
        assert browser.post("/", {"product": "notebook", "csrfmiddlewaretoken": token}).status_code == 303
    # then staff see three references, each naming the product and its checkout's short id
    checkouts = list(Checkout.objects.all())
    assert len({checkout.reference for checkout in checkouts}) == 3
    assert all(checkout.reference == f"demo-notebook-{str(checkout.id)[:8]}" for checkout in checkouts)


def test_the_favicon_is_served_and_linked_so_no_404_is_logged(browser, caplog):
    # when a browser asks for /favicon.ico after a page
    page = browser.get("/").content.decode()
    with caplog.at_level(logging.WARNING, logger="django.request"):
        icon = browser.get("/favicon.ico")
    # then it gets an image, nothing is logged, and the pages link the same icon
    assert icon.status_code == 200 and icon["Content-Type"] == "image/svg+xml"
    assert icon.content.startswith(b"<svg")
    assert caplog.records == []
    assert '<link rel="icon" href="/static/favicon.svg"' in page


def test_the_mid_office_pages_link_the_favicon(client):
    page = client.get("/admin/login/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg"' in page
