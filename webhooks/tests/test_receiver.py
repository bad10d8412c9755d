"""POST /webhooks/psp/: verify, record once, answer 2xx; refuse and count everything else,
writing nothing to the database for a refusal."""

import json
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from payments.tests.factories import payment_json, refund_json
from webhooks.models import WebhookEvent
from webhooks.refusals import refusals_by_reason
from webhooks.tests.factories import deliver, event, signed

pytestmark = pytest.mark.django_db

PAYMENT = payment_json(id="pay_1", status="succeeded", version=2)


def refused():
    return refusals_by_reason(now=timezone.now())


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
        not_an_event = deliver(client, {**payload, "type": "payment.exploded"})
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert not_an_event.status_code == 200 and not_an_event.json()["duplicate"] is True
    assert WebhookEvent.objects.get().type == "payment.succeeded"
    assert enqueued == []


@pytest.mark.parametrize(
    ("tamper", "status", "reason"),
    [
        (lambda body, headers: (body + b" ", headers), 401, "bad_signature"),
        (lambda body, headers: (body, {**headers, "HTTP_WEBHOOK_SIGNATURE": "v1,AAAA"}), 401, "bad_signature"),
        (lambda body, headers: (body, {**headers, "HTTP_WEBHOOK_TIMESTAMP": str(int(time.time()) - 301)}), 401,
         "bad_timestamp"),
        (lambda body, headers: (body, {k: v for k, v in headers.items() if k != "HTTP_WEBHOOK_SIGNATURE"}), 400,
         "malformed_headers"),
        (lambda body, headers: (body, {**headers, "HTTP_WEBHOOK_TIMESTAMP": "soon"}), 400, "malformed_headers"),
    ],
)
def test_a_delivery_that_fails_verification_is_refused_counted_and_not_stored(client, tamper, status, reason):
    body, headers = tamper(*signed(event("payment.succeeded", PAYMENT)))
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/webhooks/psp/", data=body, content_type="application/json", **headers)
    assert response.status_code == status
    assert set(response.json()["error"]) == {"code", "message", "fields"}
    assert len(queries) == 0  # not even a read: a flood of junk never touches the database
    assert WebhookEvent.objects.count() == 0
    assert refused() == {reason: 1}


def test_refusals_are_counted_per_reason_without_a_database_write(client):
    # given a flood of junk
    with CaptureQueriesContext(connection) as queries:
        for _ in range(50):
            client.post("/webhooks/psp/", data=b"junk", content_type="application/json")
    # then every one was counted, and the database was never asked
    assert refused() == {"malformed_headers": 50}
    assert len(queries) == 0


def test_a_delivery_signed_with_another_secret_is_refused(client):
    response = deliver(client, event("payment.succeeded", PAYMENT),
                       secret="whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA==")
    assert response.status_code == 401


def test_the_previous_secret_is_accepted_during_a_rotation(client, settings):
    settings.PSP_WEBHOOK_SECRET_PREVIOUS = "whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA=="
    response = deliver(client, event("payment.succeeded", PAYMENT),
                       secret="whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA==")
    assert response.status_code == 200


def _raw(data_json: str, type_: str = "payment.succeeded") -> bytes:
    return f'{{"id": "evt_raw", "type": "{type_}", "created_at": "2026-11-23T10:15:00Z", "data": {data_json}}}'.encode()


def _with(field, value, type_="payment.succeeded"):
    data = dict(refund_json("pay_1") if type_.startswith("refund.") else PAYMENT)
    if value is _MISSING:
        data.pop(field)
    else:
        data[field] = value
    return json.dumps({"id": "evt_raw", "type": type_, "created_at": "2026-11-23T10:15:00Z", "data": data}).encode()


_MISSING = object()

NOT_EVENTS = [
    b"not json", b"", b"[1]", b"null", b'"evt_raw"', b"\xff\xfe",
    b"[" * 60_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000,  # deeper than the parser goes, under 64 KiB
    _raw('{"id": "pay_1", "version": 1e999999}'), _raw('{"id": "pay_1", "version": ' + "9" * 5000 + "}"),
    _raw('{"id": "pay_1", "version": NaN}'), _raw('{"id": "pay_1", "version": -Infinity}'),
    b'{"id": "evt_raw", "type": "payment.exploded", "data": {"id": "pay_1"}}',
    b'{"id": "evt_other", "type": "payment.succeeded", "data": {"id": "pay_1"}}',
    b'{"id": "evt_raw", "type": "payment.succeeded"}',
    b'{"id": ["evt_raw"], "type": "payment.succeeded", "data": {}}',
    b'{"id": "evt_raw", "type": ["payment.succeeded"], "data": {}}',
    b'{"id": "evt_raw", "type": {"a": 1}, "data": {}}',
    b'{"id": "evt_raw", "type": 1e999, "data": {}}',
    b'{"id": "evt_raw", "type": "payment.succeeded", "created_at": 5, "data": ' + json.dumps(PAYMENT).encode() + b"}",
    _raw("[]"), _raw('"pay_1"'), _raw("1"), _raw("null"),
    # every field of a payment object with the wrong JSON type, or missing
    *[_with(field, value) for field, value in [
        ("id", 1), ("id", ""), ("id", None), ("id", ["pay_1"]), ("token", 5), ("token", _MISSING),
        ("amount", 12.5), ("amount", "12.5"), ("amount", "1e3"), ("amount", ["12.50"]), ("currency", ["EUR"]),
        ("currency", 978), ("currency", "XXX"), ("payment_method", {}), ("status", True), ("status", _MISSING),
        ("version", "2"), ("version", 2.0), ("version", True), ("version", 0), ("version", 2**31), ("version", 10**300),
        ("version", _MISSING), ("refunded_amount", 0), ("refunded_amount", _MISSING), ("failure_code", 3),
        ("failure_message", ["x"]), ("next_action", "redirect"), ("next_action", {"url": 7}), ("metadata", []),
        ("metadata", {"attempt_id": 1}), ("metadata", "x"),
    ]],
    # and of a refund object
    *[_with(field, value, "refund.succeeded") for field, value in [
        ("id", 1), ("payment_id", ["pay_1"]), ("amount", 5), ("currency", None), ("status", {}),
        ("reason", 1), ("payment_id", _MISSING),
    ]],
]


@pytest.mark.parametrize("payload", NOT_EVENTS)
def test_a_signed_body_that_is_not_an_event_is_a_400_that_writes_nothing(client, payload):
    # given a correctly signed delivery whose body is not an event of docs/psp-protocol.md
    body, headers = signed(payload, event_id="evt_raw")
    # when it arrives
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/webhooks/psp/", data=body, content_type="application/json", **headers)
    # then it is a 400 in the contract's shape, told apart from a bad signature, and only counted
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_event"
    assert set(response.json()["error"]) == {"code", "message", "fields"}
    assert not [query for query in queries if not query["sql"].lstrip().upper().startswith("SELECT")]
    assert WebhookEvent.objects.count() == 0
    assert refused() == {"invalid_event": 1}


def test_a_body_over_the_size_limit_is_a_413_in_the_contracts_shape(client):
    body, headers = signed(b"[" * 100_000, event_id="evt_raw")
    response = client.post("/webhooks/psp/", data=body, content_type="application/json", **headers)
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
    assert WebhookEvent.objects.count() == 0


def test_the_health_view_sums_the_last_24_hours_of_refusals(client, settings):
    # given refusals counted now and 30 hours ago
    from webhooks.refusals import refusal_count
    from webhooks.selectors import webhook_health

    now = timezone.now()
    for _ in range(7):
        refusal_count(reason="bad_signature", now=now)
    refusal_count(reason="invalid_event", now=now - timedelta(hours=23))
    refusal_count(reason="bad_signature", now=now - timedelta(hours=30))
    # when the mid-office asks: then only the last 24 hours count
    health = webhook_health(now=now)
    assert (health.refused, health.refused_by_reason) == (8, {"bad_signature": 7, "invalid_event": 1})


def test_only_post_is_accepted(client):
    response = client.get("/webhooks/psp/")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
