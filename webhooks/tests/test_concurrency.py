"""Racing deliveries, processing and polls against PostgreSQL: each outcome is applied once."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client

from checkout.tests.factories import make_checkout
from payments.models import StatusChange
from payments.polling import attempt_poll
from payments.states import AttemptStatus, CheckoutStatus
from payments.tests.factories import PSP, make_attempt, payment_json
from webhooks.models import WebhookEvent
from webhooks.processing import event_process
from webhooks.tests.factories import event, signed

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _race(count, work):
    """Run `work(i)` in `count` threads released at the same instant, each with its own connection."""
    start = threading.Barrier(count)

    def run(index):
        start.wait()
        try:
            return work(index)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def _pending_attempt():
    checkout = make_checkout(status=CheckoutStatus.PROCESSING)
    return make_attempt(checkout, status=AttemptStatus.PENDING, psp_payment_id="pay_1", psp_version=1)


def _succeeded_changes(attempt):
    return StatusChange.objects.filter(attempt=attempt, subject="attempt", to_status="succeeded").count()


def test_the_same_event_delivered_ten_times_concurrently_changes_the_status_once(settings):
    settings.PSP_RETRY_BACKOFF = 0
    attempt = _pending_attempt()
    body, headers = signed(event("payment.succeeded", payment_json(attempt, id="pay_1", version=2)))
    # when ten deliveries of one event arrive at once
    answers = _race(10, lambda _: Client().post("/webhooks/psp/", data=body, content_type="application/json",
                                                 **headers))
    # then all are answered 2xx and it is recorded once
    assert [answer.status_code for answer in answers] == [200] * 10
    assert sum(answer.json()["duplicate"] for answer in answers) == 9
    stored = WebhookEvent.objects.get()
    # and ten workers processing it at once change the status once
    outcomes = _race(10, lambda _: _process_again(stored.pk))
    assert outcomes.count("processed") >= 1
    assert _succeeded_changes(attempt) == 1
    assert StatusChange.objects.filter(checkout=attempt.checkout, subject="checkout", to_status="paid").count() == 1


def _process_again(event_pk):
    WebhookEvent.objects.filter(pk=event_pk, outcome="processed").update(outcome="received")
    return event_process(event_pk=event_pk)


def test_succeeded_followed_by_an_older_pending_ends_succeeded(client):
    # given a bank transfer whose Buy Now answer (pending, version 1) never reached us
    attempt = make_attempt(make_checkout())
    newer = event("payment.succeeded", payment_json(attempt, id="pay_1", version=2))
    older = event("payment.pending", payment_json(attempt, id="pay_1", status="pending", version=1))
    for payload in (newer, older):
        body, headers = signed(payload)
        assert client.post("/webhooks/psp/", data=body, content_type="application/json", **headers).status_code == 200
    outcomes = [event_process(event_pk=WebhookEvent.objects.get(event_id=p["id"]).pk) for p in (newer, older)]
    assert outcomes == ["processed", "ignored"]
    attempt.refresh_from_db()
    assert (attempt.status, attempt.psp_version) == (AttemptStatus.SUCCEEDED, 2)


def test_a_webhook_and_a_poll_reporting_the_same_outcome_at_once_make_one_change(client, psp_stub, settings):
    settings.PSP_RETRY_BACKOFF = 0
    attempt = _pending_attempt()
    succeeded = payment_json(attempt, id="pay_1", version=2)
    psp_stub.get(f"{PSP}/v1/payments/pay_1", json=succeeded)
    body, headers = signed(event("payment.succeeded", succeeded))
    client.post("/webhooks/psp/", data=body, content_type="application/json", **headers)
    stored = WebhookEvent.objects.get()
    # when the event's processing and a poll run at the same moment
    _race(2, lambda i: event_process(event_pk=stored.pk) if i == 0 else attempt_poll(attempt_id=attempt.id))
    # then the attempt moved once, and which of them moved it is on record
    assert _succeeded_changes(attempt) == 1
    assert StatusChange.objects.get(attempt=attempt, to_status="succeeded").cause in ("webhook", "poll")


def test_ten_workers_on_one_event_process_it_once_and_the_others_find_it_done():
    # given a recorded event (delivered once)
    attempt = _pending_attempt()
    body, headers = signed(event("payment.succeeded", payment_json(attempt, id="pay_1", version=2)))
    Client().post("/webhooks/psp/", data=body, content_type="application/json", **headers)
    stored = WebhookEvent.objects.get()
    # when ten workers take it at the same instant (the broker rang it ten times)
    outcomes = _race(10, lambda _: event_process(event_pk=stored.pk))
    # then the first holds its row while it applies and marks it; the others wait, then see it done
    assert outcomes == ["processed"] * 10
    stored.refresh_from_db()
    assert stored.processing_attempts == 1
    assert _succeeded_changes(attempt) == 1
