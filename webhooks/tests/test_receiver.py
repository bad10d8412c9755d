"""POST /webhooks/psp/: verify, record once, answer 2xx; refuse and count everything else."""

import time

import pytest

from webhooks.models import WebhookEvent, WebhookRefusal
from webhooks.tests.factories import deliver, event, signed

pytestmark = pytest.mark.django_db

PAYMENT = {"id": "pay_1", "status": "succeeded", "version": 2}


def test_a_signed_event_is_recorded_and_answered_200(client, django_capture_on_commit_callbacks):
    payload = event("payment.succeeded", PAYMENT)
    with django_capture_on_commit_callbacks() as enqueued:
        response = deliver(client, payload)
    assert response.status_code == 200
    stored = WebhookEvent.objects.get()
    assert (stored.event_id, stored.type, stored.outcome, stored.psp_object_id) == (
        payload["id"], "payment.succeeded", "received", "pay_1")
    assert stored.headers["webhook-id"] == payload["id"]
    assert len(enqueued) == 1  # processing is enqueued once the row is committed


def test_a_repeated_event_id_is_answered_2xx_and_changes_nothing(client, django_capture_on_commit_callbacks):
    payload = event("payment.succeeded", PAYMENT, event_id="evt_same")
    deliver(client, payload)
    with django_capture_on_commit_callbacks() as enqueued:
        again = deliver(client, {**payload, "type": "payment.failed"})
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert WebhookEvent.objects.get().type == "payment.succeeded"
    assert enqueued == []


@pytest.mark.parametrize(
    ("tamper", "status"),
    [
        (lambda body, headers: (body + b" ", headers), 401),
        (lambda body, headers: (body, {**headers, "HTTP_WEBHOOK_SIGNATURE": "v1,AAAA"}), 401),
        (lambda body, headers: (body, {**headers, "HTTP_WEBHOOK_TIMESTAMP": str(int(time.time()) - 301)}), 401),
        (lambda body, headers: (body, {k: v for k, v in headers.items() if k != "HTTP_WEBHOOK_SIGNATURE"}), 400),
        (lambda body, headers: (body, {**headers, "HTTP_WEBHOOK_TIMESTAMP": "soon"}), 400),
    ],
)
def test_a_delivery_that_fails_verification_is_refused_counted_and_not_stored(client, tamper, status):
    body, headers = tamper(*signed(event("payment.succeeded", PAYMENT)))
    response = client.post("/webhooks/psp/", data=body, content_type="application/json", **headers)
    assert response.status_code == status
    assert set(response.json()["error"]) == {"code", "message", "fields"}
    assert WebhookEvent.objects.count() == 0
    assert WebhookRefusal.objects.get().count == 1


def test_refusals_are_counted_in_one_row_per_hour_and_reason(client):
    for _ in range(5):
        client.post("/webhooks/psp/", data=b"junk", content_type="application/json")
    refusal = WebhookRefusal.objects.get()
    assert (refusal.reason, refusal.count) == ("malformed_headers", 5)


def test_a_delivery_signed_with_another_secret_is_refused(client):
    response = deliver(client, event("payment.succeeded", PAYMENT),
                       secret="whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA==")
    assert response.status_code == 401


def test_the_previous_secret_is_accepted_during_a_rotation(client, settings):
    settings.PSP_WEBHOOK_SECRET_PREVIOUS = "whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA=="
    response = deliver(client, event("payment.succeeded", PAYMENT),
                       secret="whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA==")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"[1]", b'{"id": "evt_raw", "type": "payment.exploded", "data": {"id": "pay_1"}}',
     b'{"id": "evt_other", "type": "payment.succeeded", "data": {"id": "pay_1"}}',
     b'{"id": "evt_raw", "type": "payment.succeeded"}'],
)
def test_a_signed_body_that_is_not_an_event_is_told_apart_from_a_bad_signature(client, payload):
    response = deliver(client, payload, event_id="evt_raw")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_event"
    stored = WebhookEvent.objects.get()
    assert stored.outcome == "invalid" and stored.error
    assert WebhookRefusal.objects.count() == 0


def test_only_post_is_accepted(client):
    response = client.get("/webhooks/psp/")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
