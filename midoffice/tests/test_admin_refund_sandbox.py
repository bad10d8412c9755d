"""A refund made from the mid-office, against the real sandbox PSP process, through to succeeded."""

import re
import time
from decimal import Decimal

import pytest

from checkout.services import checkout_create
from checkout.tests.factories import make_storefront
from midoffice.tests.factories import OPERATOR, make_staff
from payments.buy_now import attempt_buy_now
from payments.models import Refund, StaffAction
from payments.refunds import refund_sync
from payments.states import CheckoutStatus, RefundStatus
from payments.transitions import Cause

pytestmark = pytest.mark.sandbox


def paid_checkout(reference):
    checkout = checkout_create(amount=Decimal("12.50"), currency="EUR", storefront=make_storefront(),
        reference=reference, cause=Cause(kind="api"))
    result = attempt_buy_now(checkout_id=checkout.id, token=checkout.psp_token, payment_method="pm_card_visa",
                             cause=Cause(kind="shopper"))
    assert result.attempt.status == "succeeded"
    return checkout


def test_a_partial_refund_from_the_mid_office_settles_at_the_sandbox(e2e, client):
    # given a checkout paid at the sandbox, and an operator on its refund page
    checkout = paid_checkout("order-e2e-refund")
    operator = make_staff(OPERATOR)
    client.force_login(operator)
    url = f"/admin/checkout/checkout/{checkout.id}/refund/"
    key = re.search(r'name="request_key" value="([^"]+)"', client.get(url).content.decode()).group(1)
    # when they confirm a refund of 5.00
    form = {"amount": "5.00", "reason": "one mug arrived broken", "request_key": key}
    assert 'id="confirm-refund"' in client.post(url, form).content.decode()
    assert client.post(url, {**form, "confirm": "Yes"}).status_code == 302
    refund = Refund.objects.get()
    assert (refund.status, refund.psp_refund_id[:3]) == (RefundStatus.PENDING, "re_")
    # then the PSP settles it after its delay, and asking it (what the poller does) applies that
    deadline = time.monotonic() + 30
    while refund.status == RefundStatus.PENDING and time.monotonic() < deadline:
        time.sleep(0.5)
        refund = refund_sync(refund_id=refund.id, cause=Cause(kind="poll"))
    assert refund.status == RefundStatus.SUCCEEDED
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.PARTIALLY_REFUNDED
    assert checkout.attempts.get().refunded_amount == Decimal("5.00")
    assert StaffAction.objects.get(action="refund").actor == operator
    page = client.get(f"/admin/checkout/checkout/{checkout.id}/change/").content.decode()
    assert "Refund Pending → Succeeded" in page and "5.00 EUR" in page  # the timeline, in the labels
    # and a second submit of the same form refunds nothing more
    client.post(url, {**form, "confirm": "Yes"})
    assert Refund.objects.count() == 1
