"""Statuses that arrive later, end to end: the sandbox PSP process, the live BPS, and a real
Celery worker with its beat (PostgreSQL and Redis in CI; never eager mode)."""

import time

import pytest
import requests

from checkout.tests.factories import make_api_key
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
