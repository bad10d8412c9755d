"""What survives a restart: payments, answers under keys, settling, deliveries."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .client import Psp
from .receiver import Receiver, verified_events
from .sandbox_process import SECRET, SandboxProcess

pytestmark = pytest.mark.sandbox

# 0.4 real seconds per PSP second: settling (5 PSP s) takes 2 s, and the first
# webhook retry (5 PSP s) comes 2 s after the first attempt, time enough to
# stop the process in between.
OPTIONS = ("--time-scale", "0.4", "--settle-delay", "5")


@pytest.fixture
def restartable(storage: Path) -> Iterator[SandboxProcess]:
    process = SandboxProcess(storage, *OPTIONS).start()
    yield process
    process.stop()


def test_payments_and_idempotent_answers_survive_a_restart(restartable: SandboxProcess, receiver: Receiver) -> None:
    # given a payment made under a key
    psp = Psp(restartable.url, receiver.url())
    session = psp.create_session()
    first = psp.pay(session, key="restart-key")
    # when the process is killed and started again on the same storage
    restartable.stop(kill=True)
    restartable.start()
    psp = Psp(restartable.url, psp.webhook_url)
    # then the payment and its session are still there
    assert psp.payment(first.json()["id"]) == first.json()
    assert psp.session(session["token"])["latest_payment"] == first.json()
    # and the key still replays its answer
    again = psp.pay(session, key="restart-key")
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.content == first.content


def test_a_pending_bank_transfer_settles_after_a_restart(restartable: SandboxProcess, receiver: Receiver) -> None:
    # given a pending bank transfer
    psp = Psp(restartable.url, receiver.url())
    payment = psp.paid("pm_bank_transfer")
    receiver.wait_for(psp.webhook_url, 1)
    # when the process is killed before it settles, and started again
    restartable.stop(kill=True)
    restartable.start()
    psp = Psp(restartable.url, psp.webhook_url)
    assert psp.payment(payment["id"])["status"] == "pending"
    # then it settles anyway, and its webhook is sent
    settled = psp.wait_for(f"/v1/payments/{payment['id']}", "status", "succeeded")
    assert settled["version"] == 2
    deadline = time.monotonic() + 10
    while len({json.loads(d.body)["type"] for d in receiver.deliveries(psp.webhook_url)}) < 2:
        assert time.monotonic() < deadline, "payment.succeeded never arrived"
        time.sleep(0.05)
    # (a kill right after a delivery, before it was recorded, may repeat it: at least once)
    events = verified_events(receiver.deliveries(psp.webhook_url), SECRET)
    assert sorted({(e["data"]["version"], e["type"]) for e in events}) == [
        (1, "payment.pending"),
        (2, "payment.succeeded"),
    ]


def test_a_scheduled_webhook_retry_is_delivered_after_a_restart(
    restartable: SandboxProcess, receiver: Receiver
) -> None:
    # given an event whose first delivery was answered 500, so a retry is scheduled 2 s later
    psp = Psp(restartable.url, receiver.url())
    receiver.answer(psp.webhook_url, 500)
    psp.paid()
    first = receiver.wait_for(psp.webhook_url, 1)[0]
    # when the process stops before the retry and starts again
    restartable.stop()
    restartable.start()
    # then the retry is delivered, on its schedule, with the same id and body
    deliveries = receiver.wait_for(psp.webhook_url, 2, timeout=15)
    assert deliveries[1].received_at - first.received_at >= 2.0 * 0.95
    assert deliveries[1].body == first.body
    assert deliveries[1].headers["webhook-id"] == first.headers["webhook-id"]
    assert len(verified_events(deliveries, SECRET)) == 2


def test_a_delivery_interrupted_by_a_crash_is_made_after_the_restart(
    restartable: SandboxProcess, receiver: Receiver
) -> None:
    # given events queued while the receiver's answers are refused (500 twice)
    psp = Psp(restartable.url, receiver.url())
    receiver.answer(psp.webhook_url, 500)
    payment = psp.paid()
    receiver.wait_for(psp.webhook_url, 1)
    # when the process is killed outright and started again
    restartable.stop(kill=True)
    time.sleep(0.1)
    restartable.start()
    # then the event still arrives
    deliveries = receiver.wait_for(psp.webhook_url, 2, timeout=15)
    assert json.loads(deliveries[-1].body)["data"]["id"] == payment["id"]
