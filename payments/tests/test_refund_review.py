"""A refund stuck in review (the PSP was down when it was sent, so it has no PSP id) has the
same way out as an attempt: staff ask the PSP (a safe resend with its own key while the PSP
remembers it) or close it with a note; until then its amount is reserved and on the dashboard."""

from datetime import timedelta
from decimal import Decimal

import pytest
import requests
import time_machine

from checkout.tests.factories import make_checkout
from payments.models import StaffAction
from payments.refunds import PSP_KEY_MEMORY, REFUND_RESEND_WINDOW, refund_create, refund_sync
from payments.states import AttemptStatus, CheckoutStatus, RefundStatus
from payments.tests.factories import PSP, make_attempt, refund_json
from payments.transitions import Cause

pytestmark = pytest.mark.django_db
REFUNDS = f"{PSP}/v1/payments/pay_1/refunds"


@pytest.fixture
def stuck(psp_stub):
    """A full refund sent while the PSP was down, left in review by the poller after its window."""
    checkout = make_checkout(status=CheckoutStatus.PAID)
    make_attempt(checkout, status=AttemptStatus.SUCCEEDED, psp_payment_id="pay_1", psp_version=1)
    psp_stub.post(REFUNDS, body=requests.ConnectionError("PSP down"))
    refund = refund_create(checkout_id=checkout.id, amount=Decimal("12.50"), reason="damaged", cause=Cause(kind="api"))
    with time_machine.travel(refund.created_at + REFUND_RESEND_WINDOW + timedelta(seconds=1)):
        refund = refund_sync(refund_id=refund.id, cause=Cause(kind="poll"))
    assert (refund.status, refund.psp_refund_id) == (RefundStatus.NEEDS_REVIEW, None)
    return refund


def _keys_sent(psp_stub):
    return [call.request.headers["Idempotency-Key"] for call in psp_stub.calls if call.request.url == REFUNDS]


def test_a_refund_in_review_is_on_the_dashboard_with_its_reserved_amount(client, operator, stuck):
    page = client.get("/admin/").content.decode()
    assert "Refunds in review" in page
    assert f"/admin/payments/refund/{stuck.id}/review/" in page
    assert "12.50" in page


def test_staff_asking_the_psp_resends_it_with_its_own_key_and_it_leaves_review(client, operator, stuck, psp_stub):
    # given the PSP is back
    psp_stub.replace("POST", REFUNDS, json=refund_json("pay_1", id="re_1", amount="12.50"), status=201)
    # when staff ask the PSP from the refund's review page, hours later
    with time_machine.travel(stuck.created_at + timedelta(hours=5)):
        client.force_login(operator)
        response = client.post(f"/admin/payments/refund/{stuck.id}/review/", {"decision": "ask"})
    # then it was sent again with its own key, and follows the PSP's answer
    assert response.status_code == 302
    stuck.refresh_from_db()
    assert (stuck.status, stuck.psp_refund_id) == (RefundStatus.PENDING, "re_1")
    assert set(_keys_sent(psp_stub)) == {stuck.idempotency_key}
    assert StaffAction.objects.get(refund=stuck).outcome == "needs_review → pending"


def test_past_the_psps_key_memory_asking_sends_nothing_and_staff_close_it_with_a_note(
    client, operator, stuck, psp_stub
):
    sent_before = len(_keys_sent(psp_stub))
    later = stuck.created_at + PSP_KEY_MEMORY + timedelta(minutes=1)
    with time_machine.travel(later):
        client.force_login(operator)  # a day later: a new working day's session
        # when staff ask the PSP a day later, nothing is resent (the PSP forgot the key)
        client.post(f"/admin/payments/refund/{stuck.id}/review/", {"decision": "ask"})
        assert len(_keys_sent(psp_stub)) == sent_before
        # and closing without a note is refused
        client.post(f"/admin/payments/refund/{stuck.id}/review/", {"decision": "close", "note": " "})
        stuck.refresh_from_db()
        assert stuck.status == RefundStatus.NEEDS_REVIEW
        # when they close it with what they checked
        client.post(f"/admin/payments/refund/{stuck.id}/review/",
                    {"decision": "close", "note": "PSP support confirms no refund re_ exists for pay_1"})
    # then it failed, and its amount is free for a new refund
    stuck.refresh_from_db()
    assert (stuck.status, stuck.failure_code) == (RefundStatus.FAILED, "closed_by_staff")
    assert StaffAction.objects.filter(refund=stuck, action="resolve").exists()
    psp_stub.replace("POST", REFUNDS, json=refund_json("pay_1", id="re_2", amount="12.50"), status=201)
    again = refund_create(checkout_id=stuck.checkout_id, amount=Decimal("12.50"), reason="again",
                          cause=Cause(kind="api"))
    assert again.psp_refund_id == "re_2"


def test_a_refund_the_psp_may_still_remember_cannot_be_closed_by_hand(client, operator, stuck):
    client.post(f"/admin/payments/refund/{stuck.id}/review/", {"decision": "close", "note": "looks lost"})
    stuck.refresh_from_db()
    assert stuck.status == RefundStatus.NEEDS_REVIEW
    assert not StaffAction.objects.filter(refund=stuck, action="resolve").exists()
