"""Processing a stored webhook event again, from the mid-office."""

import json

import pytest

from checkout.tests.factories import make_checkout
from payments.models import StaffAction
from payments.states import AttemptStatus, CheckoutStatus
from payments.tests.factories import make_attempt, payment_json
from webhooks.models import WebhookEvent
from webhooks.tests.factories import event

pytestmark = pytest.mark.django_db



def stored(payload, outcome="failed"):
    return WebhookEvent.objects.create(event_id=payload["id"], type=payload["type"], headers={},
                                       body=json.dumps(payload), outcome=outcome, error="OperationalError: gone",
                                       psp_object_id=payload["data"]["id"])


def test_a_failed_event_processed_again_applies_its_payment(client, operator):
    checkout = make_checkout(status=CheckoutStatus.PROCESSING)
    attempt = make_attempt(checkout, status=AttemptStatus.PENDING, psp_payment_id="pay_1", psp_version=1)
    failed = stored(event("payment.succeeded", payment_json(attempt, id="pay_1", version=2)))
    response = client.post(f"/admin/webhooks/webhookevent/{failed.pk}/reprocess/", follow=True)
    assert "failed → processed" in response.content.decode()
    failed.refresh_from_db()
    attempt.refresh_from_db()
    assert (failed.outcome, attempt.status) == ("processed", "succeeded")
    action = StaffAction.objects.get()
    assert (action.actor, action.action, action.checkout_id, action.webhook_event_id) == (
        operator, "reprocess_event", checkout.id, failed.event_id)


def test_an_event_that_fails_again_is_recorded_as_such(client, operator):
    failed = stored(event("payment.succeeded", {"id": "pay_x", "broken": True}))
    client.post(f"/admin/webhooks/webhookevent/{failed.pk}/reprocess/")
    failed.refresh_from_db()
    assert failed.outcome == "failed"
    assert StaffAction.objects.get().outcome.startswith("failed again: PspProtocolError")


def test_only_failed_events_can_be_processed_again(client, operator):
    done = stored(event("payment.succeeded", {"id": "pay_x"}), outcome="processed")
    response = client.post(f"/admin/webhooks/webhookevent/{done.pk}/reprocess/", follow=True)
    assert "Only an event whose processing failed" in response.content.decode()
    assert not StaffAction.objects.exists()


def test_the_bulk_action_takes_only_the_failed_events(client, operator):
    checkout = make_checkout(status=CheckoutStatus.PROCESSING)
    attempt = make_attempt(checkout, status=AttemptStatus.PENDING, psp_payment_id="pay_1", psp_version=1)
    failed = stored(event("payment.succeeded", payment_json(attempt, id="pay_1", version=2)))
    done = stored(event("payment.pending", {"id": "pay_2"}), outcome="processed")
    response = client.post("/admin/webhooks/webhookevent/", {
        "action": "reprocess", "_selected_action": [failed.pk, done.pk]}, follow=True)
    assert "Processed 1 failed event(s) again: 0 failed again." in response.content.decode()
    assert StaffAction.objects.get().webhook_event_id == failed.event_id


def test_the_event_page_masks_the_session_token(client, operator):
    failed = stored(event("payment.succeeded", payment_json(None, id="pay_1", token="tok_secretsecret1234")))
    page = client.get(f"/admin/webhooks/webhookevent/{failed.pk}/change/").content.decode()
    assert "tok_secretsecret1234" not in page and "…1234" in page
