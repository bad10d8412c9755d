"""The BPS served by gunicorn for real, the real sandbox PSP behind it: a web worker killed by
gunicorn's timeout while the PSP holds a refund's answer, then the storefront's retry with the
same Idempotency-Key. The PSP must end with one refund, made with one key."""

import time

import pytest
import requests

from checkout.tests.factories import make_api_key
from payments.models import PspCall, Refund
from paysite.tests.processes import SANDBOX_KEY, SANDBOX_SECRET, Web

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres]


@pytest.fixture
def gunicorn(transactional_db, sandbox, tmp_path):
    """`gunicorn paysite.wsgi` with one sync worker that it kills after 2 s of silence."""
    from conftest import _database_url

    env = {
        "DATABASE_URL": _database_url(), "PSP_BASE_URL": sandbox.url, "PSP_API_KEY": SANDBOX_KEY,
        "PSP_WEBHOOK_SECRET": SANDBOX_SECRET, "DEBUG": "true", "IDEMPOTENCY_TAKEOVER_AFTER": "1",
        "PSP_TIMEOUT": "10", "SITE_URL": "http://127.0.0.1:8000",
    }
    # gunicorn's sync worker, whose timeout kills a worker stuck in a request (the gthread worker of
    # gunicorn.conf.py keeps its heartbeat while a request hangs, so its timeout never fires there).
    web = Web(env, tmp_path / "gunicorn.log", options=(
        "--workers", "1", "--worker-class", "sync", "--threads", "1", "--timeout", "2", "--graceful-timeout", "1"))
    web.start()
    sandbox.clear_faults()
    yield web.url, web.log_path
    web.stop()
    sandbox.clear_faults()


def test_a_refund_whose_web_worker_was_killed_is_resumed_by_the_retry_and_refunds_once(gunicorn, sandbox):
    url, log = gunicorn
    _record, key = make_api_key()
    shop = requests.Session()
    shop.headers["Authorization"] = f"Bearer {key}"
    # given a paid checkout
    checkout = shop.post(f"{url}/api/checkouts/", json={"amount": "12.50", "currency": "EUR"}, timeout=30).json()
    paid = requests.post(f"{url}/api/checkouts/{checkout['id']}/buy-now/", timeout=30,
                         json={"token": checkout["token"], "payment_method": "pm_card_visa"}).json()
    assert paid["attempt"]["status"] == "succeeded"
    # when the PSP makes the refund but holds its answer past gunicorn's timeout
    sandbox.faults({"path": "/v1/payments/{id}/refunds", "fault": "slow:6"})
    def refund():
        return shop.post(f"{url}/api/checkouts/{checkout['id']}/refunds/", timeout=30,
                         json={"amount": "5.00", "reason": "damaged"}, headers={"Idempotency-Key": "refund-1042"})

    with pytest.raises(requests.RequestException):
        refund().raise_for_status()  # gunicorn may answer for its dead worker with a 5xx
    assert "WORKER TIMEOUT" in log.read_text()
    assert Refund.objects.count() == 1  # the worker had committed the refund before it died
    # and the storefront retries with the same key once the dead request's claim lapsed
    time.sleep(1.5)
    retry = refund()
    # then the retry resumed the same refund, sent with the same key
    assert retry.status_code == 201, retry.text
    stored = Refund.objects.get()
    assert retry.json()["id"] == str(stored.id)
    sent = PspCall.objects.filter(method="POST", path__endswith="/refunds").values_list("idempotency_key", flat=True)
    assert set(sent) == {stored.idempotency_key}
    # and once the PSP settled it, it holds one refund of 5.00, not two
    payment_id = stored.attempt.psp_payment_id
    deadline = time.monotonic() + 20
    while (payment := sandbox.get(f"/v1/payments/{payment_id}"))["refunded_amount"] == "0.00":
        assert time.monotonic() < deadline, payment
        time.sleep(0.3)
    assert payment["refunded_amount"] == "5.00"
