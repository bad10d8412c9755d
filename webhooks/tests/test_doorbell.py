"""The doorbell: recorded events' ids reach the workers in shared messages, each id once."""

import multiprocessing
import threading
import time

import pytest
import responses

from checkout.tests.factories import make_checkout
from payments.states import AttemptStatus, CheckoutStatus
from payments.tests.factories import PSP, make_attempt, payment_json
from webhooks.doorbell import Doorbell
from webhooks.models import WebhookEvent
from webhooks.tasks import process_events
from webhooks.tests.factories import deliver, event


def _wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_ids_rung_by_many_threads_are_sent_once_each_in_shared_messages():
    sent: list[list[int]] = []
    bell = Doorbell(sent.append, window=0.002, most=50)
    # when 16 threads ring 200 ids each, as 16 request threads would
    threads = [threading.Thread(target=lambda base=base: [bell.ring(base + n) for n in range(200)])
               for base in range(0, 16_000, 1_000)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _wait_for(lambda: sum(len(batch) for batch in sent) >= 3_200)
    time.sleep(0.05)
    # then every id went exactly once, in fewer messages than ids, none over the limit
    ids = [event_pk for batch in sent for event_pk in batch]
    assert sorted(ids) == sorted(base + n for base in range(0, 16_000, 1_000) for n in range(200))
    assert len(sent) < len(ids) and max(len(batch) for batch in sent) <= 50


def test_a_broker_that_refuses_loses_that_message_only_and_the_bell_keeps_ringing(caplog):
    sent: list[list[int]] = []

    def send(batch):
        if batch == [1]:
            raise ConnectionError("broker down")
        sent.append(batch)

    bell = Doorbell(send, window=0.001)
    bell.ring(1)
    _wait_for(lambda: "could not ring for webhook events [1]" in caplog.text)
    bell.ring(2)
    _wait_for(lambda: sent == [[2]])


def _ring_in_child(bell, done):
    bell.ring(7)
    done.wait(10)  # alive until the parent has what the child's thread sent


def test_a_forked_process_rings_with_a_thread_of_its_own():
    context = multiprocessing.get_context("fork")
    out, done = context.Queue(), context.Event()
    bell = Doorbell(out.put, window=0.001)
    bell.ring(1)  # the parent's thread runs; the child does not inherit it
    child = context.Process(target=_ring_in_child, args=(bell, done))
    child.start()
    got = sorted([out.get(timeout=10), out.get(timeout=10)])
    done.set()
    child.join(10)
    assert got == [[1], [7]]


@pytest.mark.django_db
@responses.activate
def test_a_failing_event_does_not_hold_back_the_others_of_its_message(client):
    # given three recorded events, the middle one naming a payment the PSP cannot be asked about
    checkouts = [make_checkout() for _ in range(3)]
    attempts = [make_attempt(checkout, status=AttemptStatus.PENDING, psp_payment_id=f"pay_{n}", psp_version=1)
                for n, checkout in enumerate(checkouts)]
    responses.get(f"{PSP}/v1/payments/pay_unknown", status=503, json={"error": {"code": "internal_error"}})
    for n, attempt in enumerate(attempts):
        data = payment_json(attempt, id=f"pay_{n}", version=2) if n != 1 else payment_json(
            attempt, id="pay_unknown", version=2, metadata={})
        deliver(client, event("payment.succeeded", data))
    # when one message carries all three
    outcomes = process_events([stored.pk for stored in WebhookEvent.objects.order_by("id")])
    # then the first and the last are applied, the middle one waits for its retry
    assert outcomes == {"processed": 2, "failed": 1}
    states = [checkout.__class__.objects.get(id=checkout.id).status for checkout in checkouts]
    assert states == [CheckoutStatus.PAID, CheckoutStatus.PROCESSING, CheckoutStatus.PAID]
    middle = WebhookEvent.objects.order_by("id")[1]
    assert middle.outcome == "failed" and middle.retry_at is not None
