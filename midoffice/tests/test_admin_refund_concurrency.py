"""The refund form submitted many times at once (a double click, several tabs): one refund.

Each thread is a whole request through Django with its own database connection, against
PostgreSQL and the real sandbox PSP."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from checkout.services import checkout_create
from checkout.tests.factories import make_storefront
from midoffice.tests.factories import OPERATOR, make_staff
from payments.buy_now import attempt_buy_now
from payments.models import PspCall, Refund, StaffAction
from payments.transitions import Cause

pytestmark = [pytest.mark.postgres, pytest.mark.sandbox]


def test_ten_submits_of_one_refund_form_at_once_refund_once(e2e):
    checkout = checkout_create(amount=Decimal("10.00"), currency="EUR", storefront=make_storefront(),
        cause=Cause(kind="api"))
    attempt_buy_now(checkout_id=checkout.id, token=checkout.psp_token, payment_method="pm_card_visa",
                    cause=Cause(kind="shopper"))
    operator = make_staff(OPERATOR)
    form = {"amount": "4.00", "reason": "double click", "request_key": str(uuid.uuid4()), "confirm": "Yes"}
    start = threading.Barrier(10)

    def submit(_):
        browser = Client()
        browser.force_login(operator)
        start.wait()
        try:
            return browser.post(f"/admin/checkout/checkout/{checkout.id}/refund/", form).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = list(pool.map(submit, range(10)))
    assert codes == [302] * 10
    refund = Refund.objects.get()
    assert (refund.id, refund.amount) == (uuid.UUID(form["request_key"]), Decimal("4.00"))
    assert StaffAction.objects.filter(action="refund").count() == 1
    assert PspCall.objects.filter(refund_id=refund.id, method="POST").count() == 1
