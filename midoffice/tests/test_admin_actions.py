"""The mid-office's actions on payments, with the PSP at its HTTP boundary: each calls a service,
and each leaves a StaffAction naming the member of staff."""

import json
import re
import uuid
from decimal import Decimal

import pytest
import requests

from checkout.tests.factories import make_checkout
from midoffice.admin.views import RefundForm
from payments.models import PaymentAttempt, Refund, StaffAction, StatusChange
from payments.states import AttemptStatus, CheckoutStatus, RefundStatus
from payments.tests.factories import PSP, make_attempt, payment_json, refund_json

pytestmark = pytest.mark.django_db




@pytest.fixture
def paid():
    checkout = make_checkout(status=CheckoutStatus.PAID)
    return checkout, make_attempt(checkout, status=AttemptStatus.SUCCEEDED, psp_payment_id="pay_1", psp_version=1)


# --- Ask the PSP now ----------------------------------------------------------------------------

def test_asking_the_psp_about_one_attempt_applies_its_answer(client, psp_stub, operator):
    checkout = make_checkout()
    attempt = make_attempt(checkout, status=AttemptStatus.PENDING, psp_payment_id="pay_2", psp_version=1)
    psp_stub.get(f"{PSP}/v1/payments/pay_2", json=payment_json(attempt, id="pay_2", version=2))
    response = client.post(f"/admin/payments/paymentattempt/{attempt.id}/ask-psp/",
                           {"next": f"/admin/checkout/checkout/{checkout.id}/change/"})
    assert response.status_code == 302 and response.url == f"/admin/checkout/checkout/{checkout.id}/change/"
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCEEDED
    action = StaffAction.objects.get()
    assert (action.actor, action.action, action.attempt, action.outcome) == (
        operator, "ask_psp", attempt, "pending → succeeded")
    change = StatusChange.objects.get(attempt=attempt, to_status="succeeded")
    assert (change.cause, change.actor) == ("staff", operator)


def test_asking_a_psp_that_cannot_answer_is_recorded_and_changes_nothing(client, psp_stub, operator):
    attempt = make_attempt(make_checkout(), status=AttemptStatus.PENDING, psp_payment_id="pay_2", psp_version=1)
    psp_stub.get(f"{PSP}/v1/payments/pay_2", body=requests.ConnectionError("down"))
    client.post(f"/admin/payments/paymentattempt/{attempt.id}/ask-psp/")
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.PENDING
    assert StaffAction.objects.get().outcome.startswith("the PSP could not answer")


def test_asking_the_psp_about_a_selection(client, psp_stub, operator):
    attempts = [make_attempt(make_checkout(), status=AttemptStatus.PENDING, psp_payment_id=f"pay_{n}", psp_version=1)
                for n in range(3)]
    for n, attempt in enumerate(attempts):
        status = "failed" if n == 0 else "pending"
        psp_stub.get(f"{PSP}/v1/payments/pay_{n}", json=payment_json(attempt, id=f"pay_{n}", status=status, version=2,
                                                                      failure_code="card_declined" if n == 0 else None))
    response = client.post("/admin/payments/paymentattempt/", {
        "action": "ask_psp_now", "_selected_action": [str(a.id) for a in attempts]}, follow=True)
    assert "Asked the PSP about 3 attempt(s): 1 changed" in response.content.decode()
    assert sorted(PaymentAttempt.objects.values_list("status", flat=True)) == ["failed", "pending", "pending"]
    assert StaffAction.objects.filter(action="ask_psp", actor=operator).count() == 3


def test_the_get_of_ask_the_psp_changes_nothing(client, operator, paid):
    _checkout, attempt = paid
    assert client.get(f"/admin/payments/paymentattempt/{attempt.id}/ask-psp/").status_code == 405


# --- Refund -------------------------------------------------------------------------------------

def _refund_form(client, checkout):
    page = client.get(f"/admin/checkout/checkout/{checkout.id}/refund/").content.decode()
    return re.search(r'name="request_key" value="([^"]+)"', page).group(1)


def test_a_refund_goes_through_a_confirmation_page_then_the_psp(client, psp_stub, operator, paid):
    checkout, _attempt = paid
    psp_stub.post(f"{PSP}/v1/payments/pay_1/refunds", json=refund_json("pay_1", id="re_1", amount="5.00"), status=201)
    key = _refund_form(client, checkout)
    form = {"amount": "5.00", "reason": "damaged in transit", "request_key": key}
    # the first submit only shows the confirmation page
    confirm = client.post(f"/admin/checkout/checkout/{checkout.id}/refund/", form)
    assert confirm.status_code == 200 and 'id="confirm-refund"' in confirm.content.decode()
    assert not Refund.objects.exists()
    # the confirmation asks the PSP
    done = client.post(f"/admin/checkout/checkout/{checkout.id}/refund/", {**form, "confirm": "Yes"})
    assert done.status_code == 302
    refund = Refund.objects.get()
    assert (refund.id, refund.status, refund.amount, refund.requested_by) == (
        uuid.UUID(key), RefundStatus.PENDING, Decimal("5.00"), operator)
    assert json.loads(psp_stub.calls[0].request.body) == {"amount": "5.00", "currency": "EUR",
                                                          "reason": "damaged in transit"}
    action = StaffAction.objects.get()
    assert (action.action, action.refund, action.note, action.outcome) == (
        "refund", refund, "damaged in transit", "5.00 EUR requested")


def test_submitting_the_same_refund_form_twice_refunds_once(client, psp_stub, operator, paid):
    checkout, _attempt = paid
    psp_stub.post(f"{PSP}/v1/payments/pay_1/refunds", json=refund_json("pay_1", id="re_1"), status=201)
    form = {"amount": "5.00", "reason": "asked", "request_key": _refund_form(client, checkout), "confirm": "Yes"}
    client.post(f"/admin/checkout/checkout/{checkout.id}/refund/", form)
    again = client.post(f"/admin/checkout/checkout/{checkout.id}/refund/", form, follow=True)
    assert "already submitted; nothing more was sent" in again.content.decode()
    assert Refund.objects.count() == 1 and len(psp_stub.calls) == 1
    assert StaffAction.objects.filter(action="refund").count() == 1


def test_a_refund_larger_than_what_is_left_is_refused_on_the_form(client, psp_stub, operator, paid):
    checkout, _attempt = paid
    form = {"amount": "12.51", "reason": "asked", "request_key": _refund_form(client, checkout), "confirm": "Yes"}
    response = client.post(f"/admin/checkout/checkout/{checkout.id}/refund/", form)
    assert "At most 12.50 is left to refund." in response.content.decode()
    form["amount"] = "1.005"
    assert "EUR has 2 decimal digits" in client.post(f"/admin/checkout/checkout/{checkout.id}/refund/",
                                                    form).content.decode()
    assert not Refund.objects.exists() and not psp_stub.calls


def test_a_refund_form_key_cannot_be_replayed_on_another_checkout(client, psp_stub, operator, paid):
    checkout, _attempt = paid
    psp_stub.post(f"{PSP}/v1/payments/pay_1/refunds", json=refund_json("pay_1", id="re_1"), status=201)
    key = _refund_form(client, checkout)
    client.post(f"/admin/checkout/checkout/{checkout.id}/refund/",
                {"amount": "1.00", "reason": "a", "request_key": key, "confirm": "Yes"})
    other = make_checkout(status=CheckoutStatus.PAID)
    make_attempt(other, status=AttemptStatus.SUCCEEDED, psp_payment_id="pay_9", psp_version=1)
    response = client.post(f"/admin/checkout/checkout/{other.id}/refund/",
                           {"amount": "1.00", "reason": "a", "request_key": key, "confirm": "Yes"})
    assert "belongs to another checkout" in response.content.decode()
    assert Refund.objects.count() == 1


def test_an_unpaid_checkout_offers_no_refund(client, operator):
    checkout = make_checkout()
    response = client.get(f"/admin/checkout/checkout/{checkout.id}/refund/", follow=True)
    assert "Nothing is left to refund" in response.content.decode()


# --- Export -------------------------------------------------------------------------------------

def test_the_export_streams_the_filtered_list_with_each_currencys_digits(client, operator):
    yen = make_checkout(amount=Decimal("1800"), currency="JPY", reference="jp-1")
    make_attempt(yen, status=AttemptStatus.SUCCEEDED)
    dinar = make_checkout(amount=Decimal("4.750"), currency="KWD", reference="=kw-1")
    make_attempt(dinar, status=AttemptStatus.SUCCEEDED)
    make_attempt(make_checkout(), status=AttemptStatus.FAILED)
    response = client.get("/admin/payments/paymentattempt/export.csv?status=succeeded")
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("id,checkout,reference,status,payment_method,amount,currency")
    rows = sorted(line.split(",")[2:7] for line in lines[1:])
    assert rows == [["'=kw-1", "succeeded", "pm_card_visa", "4.750", "KWD"],
                    ["jp-1", "succeeded", "pm_card_visa", "1800", "JPY"]]
    export = StaffAction.objects.get(action="export")
    assert (export.actor, export.note) == (operator, "status=succeeded")


def test_the_checkout_list_exports_too(client, operator):
    make_checkout(reference="order-77")
    lines = b"".join(client.get("/admin/checkout/checkout/export.csv?q=order-7").streaming_content).decode()
    assert "order-77" in lines and "12.50" in lines


def test_a_selection_stops_at_the_first_attempt_the_psp_cannot_answer(client, psp_stub, operator):
    # given three attempts and a PSP that is down
    attempts = [make_attempt(make_checkout(), status=AttemptStatus.PENDING, psp_payment_id=f"pay_{n}", psp_version=1)
                for n in range(3)]
    for n in range(3):
        psp_stub.get(f"{PSP}/v1/payments/pay_{n}", body=requests.ConnectionError("down"))
    # when staff ask about all three
    response = client.post("/admin/payments/paymentattempt/", {
        "action": "ask_psp_now", "_selected_action": [str(a.id) for a in attempts]}, follow=True)
    # then the page comes back after one try (three tries of one call), leaving the rest to the poller
    assert "Asked the PSP about 1 of 3 attempt(s): 0 changed, 1 without an answer." in response.content.decode()
    assert len(psp_stub.calls) == 3
    assert StaffAction.objects.filter(action="ask_psp").count() == 1


@pytest.mark.parametrize(("currency", "step"), [("EUR", "0.01"), ("JPY", "1"), ("KWD", "0.001")])
def test_the_refund_amount_field_steps_by_the_currencys_smallest_unit(currency, step):
    # when the refund form is made for a payment in this currency
    form = RefundForm(currency=currency, left=Decimal("5"), initial={"request_key": uuid.uuid4()})
    html = str(form["amount"])
    # then the browser's arrows and checks count in the currency's digits, from that same base
    assert f'step="{step}"' in html and f'min="{step}"' in html
