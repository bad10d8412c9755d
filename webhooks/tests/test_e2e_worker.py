"""Statuses that arrive later, end to end: the sandbox PSP process, the live BPS, and a real
Celery worker with its beat (PostgreSQL and Redis in CI; never eager mode)."""

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection, transaction

from checkout.tests.factories import make_api_key
from payments.locks import lock_checkout
from payments.models import PaymentAttempt, StatusChange
from payments.states import FINAL_ATTEMPT_STATUSES, AttemptStatus
from webhooks.models import WebhookEvent

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def shop(e2e, live_server):
    _record, key = make_api_key()
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {key}"

    def pay(method, amount="12.50"):
        checkout = http.post(f"{live_server.url}/api/checkouts/", json={"amount": amount, "currency": "EUR"},
                             timeout=30).json()
        answer = http.post(f"{live_server.url}/api/checkouts/{checkout['id']}/buy-now/",
                           json={"token": checkout["token"], "payment_method": method}, timeout=60).json()
        return checkout, answer

    http.pay = pay  # type: ignore[attr-defined]
    return http


def wait_for(condition, timeout=60.0, every=0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def attempt_of(answer):
    return PaymentAttempt.objects.get(id=answer["attempt"]["id"])


def final_changes(attempt):
    return StatusChange.objects.filter(attempt=attempt, subject="attempt", to_status__in=FINAL_ATTEMPT_STATUSES)


def test_a_bank_transfer_goes_from_processing_to_paid_by_webhook(shop, worker_settings, worker, live_server):
    checkout, answer = shop.pay("pm_bank_transfer")
    assert answer["attempt"]["status"] == "pending"
    assert wait_for(lambda: attempt_of(answer).status == AttemptStatus.SUCCEEDED, timeout=30)
    change = final_changes(attempt_of(answer)).get()
    assert change.cause == "webhook"
    assert WebhookEvent.objects.get(event_id=change.cause_reference).outcome == "processed"
    page = requests.get(f"{live_server.url}/checkout/{checkout['id']}/result/", timeout=10)
    assert 'data-status="succeeded"' in page.text


def test_a_silent_bank_transfer_is_paid_by_the_poller_alone(shop, worker):
    _checkout, answer = shop.pay("pm_bank_transfer_silent")
    assert wait_for(lambda: attempt_of(answer).status == AttemptStatus.SUCCEEDED, timeout=40), worker.log()[-4000:]
    assert final_changes(attempt_of(answer)).get().cause == "poll"
    assert not WebhookEvent.objects.filter(psp_object_id=attempt_of(answer).psp_payment_id).exists()


def test_an_attempt_left_started_by_drop_after_is_resolved_by_the_poller(shop, e2e, worker):
    e2e.faults({"path": "/v1/payments", "fault": "drop_after", "times": 3})
    e2e.faults({"webhooks": {"drop": 1.0}})  # no webhook either: only the poller can learn it
    _checkout, answer = shop.pay("pm_card_visa")
    assert answer["attempt"]["status"] == "started"
    assert wait_for(lambda: attempt_of(answer).status == AttemptStatus.SUCCEEDED, timeout=40)
    assert final_changes(attempt_of(answer)).get().cause == "poll"


def test_a_payment_the_psp_never_finalises_goes_to_review(shop, worker_settings, tmp_path):
    from paysite.tests.processes import Worker

    # 3-D Secure that nobody approves stays requires_action at the PSP forever
    worker_settings["PAYMENTS_POLL_GIVE_UP_AFTER"] = "3"
    process = Worker(worker_settings, tmp_path / "worker.log").start()
    try:
        _checkout, answer = shop.pay("pm_card_3ds")
        assert wait_for(lambda: attempt_of(answer).status == AttemptStatus.NEEDS_REVIEW, timeout=40)
        attempt = attempt_of(answer)
        assert attempt.next_poll_at is None and attempt.poll_count >= 1
        polls = attempt.poll_count
        time.sleep(3)
        assert attempt_of(answer).poll_count == polls  # no longer polled
    finally:
        process.stop()


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
        return cursor.fetchone()[0] > 0


def test_a_worker_killed_while_processing_an_event_still_applies_it_once(shop, settings, worker_settings, tmp_path):
    from paysite.tests.processes import Worker

    # the poller stays out of the way: only the webhook may settle this payment
    for name in ("PAYMENTS_POLL_FIRST_DELAY", "PAYMENTS_POLL_MAX_DELAY"):
        setattr(settings, name, 600)
        worker_settings[name] = "600"
    first = Worker(worker_settings, tmp_path / "first.log").start()
    checkout, answer = shop.pay("pm_bank_transfer")
    # given the checkout row is locked, so that processing will hang half-way, holding its task
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        with transaction.atomic():
            lock_checkout(checkout["id"])
            locked.set()
            release.wait(60)
        connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    locked.wait(10)
    try:
        # when the PSP's webhook arrives and the worker is stuck processing it
        assert wait_for(lambda: WebhookEvent.objects.filter(type="payment.succeeded").exists(), timeout=30)
        event = WebhookEvent.objects.get(type="payment.succeeded")
        assert wait_for(lambda: "process_events[" in first.log() and _waiting_on_a_lock(), timeout=30)
        # and the whole worker is killed mid-task
        first.kill()
    finally:
        release.set()
        holder.join()
    event.refresh_from_db()
    assert event.outcome == "received"
    assert attempt_of(answer).status == AttemptStatus.PENDING
    # then a new worker applies the event, once
    second = Worker(worker_settings, tmp_path / "second.log").start()
    try:
        assert wait_for(lambda: attempt_of(answer).status == AttemptStatus.SUCCEEDED, timeout=30), second.log()[-3000:]
    finally:
        second.stop()
    change = final_changes(attempt_of(answer)).get()
    assert (change.cause, change.cause_reference) == ("webhook", event.event_id)
    event.refresh_from_db()
    assert event.outcome == "processed"


METHODS = [
    "pm_card_visa", "pm_card_mastercard", "pm_card_declined", "pm_card_insufficient_funds", "pm_card_expired",
    "pm_card_3ds:approve", "pm_card_3ds:decline", "pm_bank_transfer", "pm_bank_transfer_fail",
    "pm_bank_transfer_silent",
]


def test_with_duplicated_dropped_and_reordered_webhooks_every_payment_ends_in_the_psps_final_status(
    shop, e2e, worker
):
    # given the PSP duplicates half of its events, drops 30 % and reorders close ones
    e2e.faults({"webhooks": {"duplicate": 0.5, "drop": 0.3, "reorder": True}})

    def one_payment(index):
        method, _, button = METHODS[index % len(METHODS)].partition(":")
        _checkout, answer = shop.pay(method)
        if button:
            requests.post(f"{e2e.url}/sandbox/3ds/{attempt_of(answer).psp_payment_id}/{button}",
                          allow_redirects=False, timeout=30)
        connection.close()
        return answer["attempt"]["id"]

    # when 200 payments of mixed methods are made
    with ThreadPoolExecutor(max_workers=4) as pool:
        attempt_ids = list(pool.map(one_payment, range(200)))
    done = lambda: PaymentAttempt.objects.filter(  # noqa: E731
        id__in=attempt_ids, status__in=FINAL_ATTEMPT_STATUSES).count() == 200
    assert wait_for(done, timeout=120, every=1), Counter(
        PaymentAttempt.objects.filter(id__in=attempt_ids).values_list("status", flat=True))
    # then each ends in the PSP's own final status, with exactly one final status change
    for attempt in PaymentAttempt.objects.filter(id__in=attempt_ids):
        truth = e2e.get(f"/v1/payments/{attempt.psp_payment_id}")
        assert (attempt.status, attempt.psp_version) == (truth["status"], truth["version"])
        assert final_changes(attempt).count() == 1
    causes = Counter(StatusChange.objects.filter(attempt_id__in=attempt_ids, to_status__in=FINAL_ATTEMPT_STATUSES)
                     .values_list("cause", flat=True))
    assert causes["webhook"] > 0 and causes["poll"] > 0  # both channels did their share


@pytest.fixture
def named_worker(worker_settings, tmp_path):
    """The worker, its database connections named (application_name), so a test can cut only them."""
    from paysite.tests.processes import Worker

    settings = {**worker_settings, "DATABASE_URL": worker_settings["DATABASE_URL"] + "?application_name=bps-worker"}
    process = Worker(settings, tmp_path / "worker.log").start()
    yield process
    process.stop()


def test_the_worker_goes_on_at_once_when_postgresql_cuts_its_connections(shop, named_worker, live_server):
    # given a worker that has applied payments (its processes hold pooled database connections)
    _checkout, first = shop.pay("pm_bank_transfer")
    assert wait_for(lambda: attempt_of(first).status == AttemptStatus.SUCCEEDED, timeout=30)
    # when PostgreSQL cuts the worker's connections, as a restart or a failover would
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND application_name = 'bps-worker'")
        assert cursor.fetchone()[0] > 0
    cut_at = len(named_worker.log())
    # then the next payments settle, and no task of the worker failed on a connection it had lost
    answers = [shop.pay("pm_bank_transfer")[1] for _ in range(3)]
    assert wait_for(lambda: all(attempt_of(answer).status == AttemptStatus.SUCCEEDED for answer in answers),
                    timeout=30)
    after_the_cut = named_worker.log()[cut_at:]
    assert "OperationalError" not in after_the_cut and "connection is lost" not in after_the_cut, after_the_cut[-3000:]
