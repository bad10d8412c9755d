"""Resolving an attempt in needs_review from the mid-office: the PSP's truth first, always."""

import pytest

from checkout.tests.factories import make_checkout
from payments.models import StaffAction, StatusChange
from payments.review import attempt_resolve
from payments.states import AttemptStatus, CheckoutStatus
from payments.tests.factories import PSP, make_attempt, payment_json, session_json
from paysite.api_errors import Conflict

pytestmark = pytest.mark.django_db




@pytest.fixture
def in_review():
    checkout = make_checkout(status=CheckoutStatus.PROCESSING)
    attempt = make_attempt(checkout, status=AttemptStatus.NEEDS_REVIEW, psp_payment_id="pay_1", psp_version=1,
                           review_note="No final status from the PSP before PAYMENTS_POLL_GIVE_UP_AFTER.")
    return checkout, attempt


def url(attempt):
    return f"/admin/payments/paymentattempt/{attempt.id}/resolve/"


def test_staff_confirm_the_final_status_the_psp_reports(client, psp_stub, operator, in_review):
    checkout, attempt = in_review
    psp_stub.get(f"{PSP}/v1/payments/pay_1", json=payment_json(attempt, id="pay_1", version=3))
    page = client.get(url(attempt)).content.decode()
    assert "The PSP says payment pay_1 (version 3) succeeded." in page and "Confirm: succeeded" in page
    response = client.post(url(attempt), {"decision": "confirm", "status": "succeeded", "note": "checked"})
    assert response.status_code == 302
    attempt.refresh_from_db()
    checkout.refresh_from_db()
    assert (attempt.status, attempt.psp_version, checkout.status) == ("succeeded", 3, "paid")
    change = StatusChange.objects.get(attempt=attempt, to_status="succeeded")
    assert (change.cause, change.actor, change.cause_reference, change.note) == ("staff", operator, "pay_1 v3",
                                                                                 "checked")
    assert StaffAction.objects.get(action="resolve").outcome == "needs_review → succeeded (pay_1 v3)"


def test_nobody_can_confirm_a_status_the_psp_contradicts(client, psp_stub, operator, in_review):
    _checkout, attempt = in_review
    psp_stub.get(f"{PSP}/v1/payments/pay_1",
                 json=payment_json(attempt, id="pay_1", status="failed", failure_code="card_declined", version=2))
    # a stale or forged form claims succeeded
    response = client.post(url(attempt), {"decision": "confirm", "status": "succeeded"}, follow=True)
    assert "Nothing was changed. The PSP says payment pay_1 (version 2) failed." in response.content.decode()
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.NEEDS_REVIEW
    assert not StaffAction.objects.exists()


def test_while_the_psp_cannot_say_only_a_note_is_possible_and_it_is_required(client, psp_stub, operator, in_review):
    _checkout, attempt = in_review
    psp_stub.get(f"{PSP}/v1/payments/pay_1", json=payment_json(attempt, id="pay_1", status="pending", version=1))
    page = client.get(url(attempt)).content.decode()
    assert "The PSP still says pending" in page and "Confirm:" not in page
    with pytest.raises(Conflict):
        attempt_resolve(attempt_id=attempt.id, expected_status="succeeded", actor_id=operator.id)
    empty = client.post(url(attempt), {"decision": "note", "note": "  "}, follow=True)
    assert "Write what you found" in empty.content.decode()
    client.post(url(attempt), {"decision": "note", "note": "Called the PSP: they will settle it Monday."})
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.NEEDS_REVIEW
    assert attempt.review_note.endswith("Called the PSP: they will settle it Monday.")
    note = StaffAction.objects.get(action="review_note")
    assert (note.actor, note.outcome) == (operator, "The PSP still says pending (version 1).")


def test_a_payment_of_another_amount_cannot_be_confirmed(client, psp_stub, operator, in_review):
    _checkout, attempt = in_review
    psp_stub.get(f"{PSP}/v1/payments/pay_1", json=payment_json(attempt, id="pay_1", amount="99.00", version=2))
    page = client.get(url(attempt)).content.decode()
    assert "is for 99.00 EUR, not 12.50 EUR" in page and "Confirm:" not in page


def test_an_attempt_the_psp_never_received_can_be_confirmed_failed(client, psp_stub, operator):
    checkout = make_checkout(status=CheckoutStatus.PROCESSING)
    attempt = make_attempt(checkout, status=AttemptStatus.NEEDS_REVIEW)
    psp_stub.get(f"{PSP}/v1/sessions/{checkout.psp_token}", json=session_json(checkout))
    assert "nothing was charged" in client.get(url(attempt)).content.decode()
    client.post(url(attempt), {"decision": "confirm", "status": "failed"})
    attempt.refresh_from_db()
    checkout.refresh_from_db()
    assert (attempt.status, attempt.failure_code, checkout.status) == ("failed", "not_received_by_psp", "open")


def test_a_psp_that_cannot_be_reached_allows_only_a_note(client, psp_stub, operator, in_review):
    _checkout, attempt = in_review
    psp_stub.get(f"{PSP}/v1/payments/pay_1", status=503, json={"error": {"code": "internal_error", "message": ""}})
    assert "The PSP could not be reached" in client.get(url(attempt)).content.decode()


def test_an_attempt_not_in_review_has_nothing_to_resolve(client, operator):
    attempt = make_attempt(make_checkout(), status=AttemptStatus.PENDING)
    response = client.get(url(attempt), follow=True)
    assert "not in review" in response.content.decode()
