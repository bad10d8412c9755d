"""Faults on a running system, end to end: the live BPS, the real sandbox PSP, a real Celery
worker with its beat, PostgreSQL, and a Redis broker of the test's own that the test restarts or
whose worker it kills. Every pending payment must reach the PSP's final status within about one
poll interval, one longest poll delay and one poll lease of the fault's end, charged once."""

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection

from checkout.tests.factories import make_api_key
from payments.models import PaymentAttempt
from payments.states import FINAL_ATTEMPT_STATUSES
from payments.tests.convergence import (
    assert_as_the_psp_says_and_charged_once,
    recovery_bound,
    statuses,
    wait_all_final,
)
from paysite.tests.processes import RedisServer, Worker

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.redis]

# Bank transfers stay pending at the PSP until its settle delay; the silent ones send no webhook,
# so only the poller can learn them.
METHODS = ["pm_bank_transfer", "pm_bank_transfer_silent", "pm_bank_transfer_fail"]
SETTLE_SECONDS = 7200 * 0.0005  # the session sandbox's settle delay, scaled


@contextlib.contextmanager
def publishing_to(url):
    """This process (the live server's webhook receiver) publishes its tasks to `url`."""
    from paysite.celery import app

    def reset():
        app._pool = None
        app.amqp._producer_pool = None

    before = app.conf.broker_url
    app.conf.broker_url = url
    reset()
    try:
        yield
    finally:
        app.conf.broker_url = before
        reset()


@pytest.fixture
def broker(tmp_path, worker_settings, settings):
    server = RedisServer(tmp_path).start()
    worker_settings["CELERY_BROKER_URL"] = server.url
    worker_settings["PSP_TIMEOUT"] = "1"  # so one poll's lease is a few seconds
    settings.PSP_TIMEOUT = 1
    with publishing_to(server.url):
        yield server
    server.kill()


@pytest.fixture
def shop(e2e, live_server):
    _record, key = make_api_key()
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {key}"

    def pay(index):
        checkout = http.post(f"{live_server.url}/api/checkouts/", json={"amount": "12.50", "currency": "EUR"},
                             timeout=30).json()
        answer = http.post(f"{live_server.url}/api/checkouts/{checkout['id']}/buy-now/", timeout=60,
                           json={"token": checkout["token"], "payment_method": METHODS[index % len(METHODS)]})
        connection.close()
        return answer.json()["attempt"]["id"]

    http.pay = pay  # type: ignore[attr-defined]
    return http


def _pay_thirty(shop):
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(shop.pay, range(30)))


class Supervised:
    """A worker kept running as systemd's `Restart=always` would: Celery's worker can exit on an
    unrecoverable error when its broker restarts in quick succession (kombu's Redis transport
    meets a channel closed half-way: "'NoneType' object has no attribute 'hostname'")."""

    def __init__(self, worker_settings, folder):
        self.worker_settings, self.folder, self.restarts = worker_settings, folder, 0
        self.worker = Worker(worker_settings, folder / "worker-0.log").start()

    def keep_alive(self):
        if self.worker.process is not None and self.worker.process.poll() is not None:
            self.restarts += 1
            self.worker.process = None
            self.worker = Worker(self.worker_settings, self.folder / f"worker-{self.restarts}.log").start()

    def stop(self):
        self.worker.stop()


def test_restarting_the_broker_again_and_again_loses_no_payment(shop, e2e, broker, worker_settings, tmp_path):
    # a PSP slow to answer polls, so that poll messages wait in the queue when the broker goes
    e2e.faults({"path": "/v1/payments/{id}", "fault": "slow:0.3", "times": 1000})
    supervised = Supervised(worker_settings, tmp_path)
    try:
        # given 30 bank transfers pending at the PSP, a third of them sending no webhook
        attempt_ids = _pay_thirty(shop)
        # when the broker restarts, empty, again and again for a few seconds while they settle
        fault_ends = time.monotonic() + SETTLE_SECONDS + 1
        while time.monotonic() < fault_ends:
            broker.restart()
            time.sleep(0.5)
            supervised.keep_alive()
        # then every payment ends as the PSP says, within about one poll round of the last restart
        # (plus a worker's start-up if the supervisor had to start it again)
        took = wait_all_final(attempt_ids, recovery_bound() + 5, every=supervised.keep_alive)
        assert took is not None, (statuses(attempt_ids), supervised.worker.log()[-4000:])
        print(f"converged {took:.1f} s after the last broker restart (bound {recovery_bound() + 5:.1f} s; "
              f"the worker was restarted {supervised.restarts} time(s))")
        assert_as_the_psp_says_and_charged_once(e2e, attempt_ids)
    finally:
        supervised.stop()


def test_a_worker_killed_while_it_polls_is_replaced_without_a_long_wait(shop, e2e, broker, worker_settings, tmp_path):
    # given 30 pending bank transfers whose polls the PSP answers slowly, and a worker polling them
    e2e.faults({"path": "/v1/payments/{id}", "fault": "slow:0.3", "times": 1000})
    e2e.faults({"webhooks": {"drop": 1.0}})  # no webhook: only the poller can settle them
    first = Worker(worker_settings, tmp_path / "first.log").start()
    attempt_ids = _pay_thirty(shop)
    deadline = time.monotonic() + 30
    while not ("poll_due" in first.log() and "poll_attempt" in first.log()):
        assert time.monotonic() < deadline, first.log()[-3000:]
        time.sleep(0.1)
    time.sleep(SETTLE_SECONDS)  # they have settled at the PSP; polls are in flight
    # when the whole worker (pool and beat) is SIGKILLed mid-poll, and a new one starts
    first.kill()
    killed_at = time.monotonic()
    second = Worker(worker_settings, tmp_path / "second.log").start()
    try:
        # then every payment ends as the PSP says within about one poll round and one poll lease
        took = wait_all_final(attempt_ids, recovery_bound())
        assert took is not None, (statuses(attempt_ids), second.log()[-4000:])
        print(f"converged {time.monotonic() - killed_at:.1f} s after the kill (bound {recovery_bound():.1f} s)")
        assert_as_the_psp_says_and_charged_once(e2e, attempt_ids)
    finally:
        second.stop()


def test_a_psp_down_for_ten_seconds_only_delays_the_payments(shop, e2e, broker, worker_settings, tmp_path):
    worker = Worker(worker_settings, tmp_path / "worker.log").start()
    try:
        # given 30 pending bank transfers, and the PSP refusing every request for 10 s while they settle
        attempt_ids = _pay_thirty(shop)
        e2e.faults({"path": "/v1/*", "fault": "error_before", "times": 100000})
        time.sleep(10)
        e2e.clear_faults()
        recovered_at = time.monotonic()
        # then all end as the PSP says within one poll round of its return (polls only waited)
        took = wait_all_final(attempt_ids, recovery_bound())
        assert took is not None, (statuses(attempt_ids), worker.log()[-4000:])
        print(f"converged {time.monotonic() - recovered_at:.1f} s after the PSP came back")
        assert_as_the_psp_says_and_charged_once(e2e, attempt_ids)
    finally:
        worker.stop()


def test_with_the_scheduler_down_nothing_is_polled_and_its_return_catches_up(
    shop, e2e, broker, worker_settings, tmp_path
):
    # given a worker without its beat, and 30 pending bank transfers that send no webhook
    e2e.faults({"webhooks": {"drop": 1.0}})
    no_beat = Worker(worker_settings, tmp_path / "no-beat.log", beat=False).start()
    attempt_ids = _pay_thirty(shop)
    time.sleep(SETTLE_SECONDS + 2)
    assert not PaymentAttempt.objects.filter(id__in=attempt_ids, status__in=FINAL_ATTEMPT_STATUSES).exists()
    no_beat.stop()
    # when the scheduler is back
    restarted_at = time.monotonic()
    worker = Worker(worker_settings, tmp_path / "worker.log").start()
    try:
        # then the overdue polls run at its first beats
        took = wait_all_final(attempt_ids, recovery_bound())
        assert took is not None, (statuses(attempt_ids), worker.log()[-4000:])
        print(f"converged {time.monotonic() - restarted_at:.1f} s after the scheduler came back")
        assert_as_the_psp_says_and_charged_once(e2e, attempt_ids)
    finally:
        worker.stop()
