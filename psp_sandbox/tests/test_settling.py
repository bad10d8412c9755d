"""Bank transfers: pending at creation, final once the settle delay has passed."""

from __future__ import annotations

import time

import pytest

from .client import Psp
from .receiver import Receiver, verified_events
from .sandbox_process import SECRET

pytestmark = pytest.mark.sandbox

SETTLE = 1.0  # real seconds: --settle-delay 1000 at --time-scale 0.001


@pytest.mark.parametrize(
    ("method", "final", "failure_code", "events"),
    [
        (
            "pm_bank_transfer",
            "succeeded",
            None,
            ["payment.pending", "payment.succeeded"],
        ),
        (
            "pm_bank_transfer_fail",
            "failed",
            "processing_error",
            ["payment.pending", "payment.failed"],
        ),
        ("pm_bank_transfer_silent", "succeeded", None, []),
    ],
)
def test_a_bank_transfer_settles_after_the_settle_delay(
    psp: Psp,
    receiver: Receiver,
    method: str,
    final: str,
    failure_code: str | None,
    events: list[str],
) -> None:
    # given a bank transfer, pending when made
    started = time.monotonic()
    payment = psp.paid(method)
    assert payment["status"] == "pending"
    assert psp.payment(payment["id"])["status"] == "pending"
    # when the settle delay has passed
    settled = psp.wait_for(f"/v1/payments/{payment['id']}", "status", final)
    # then it is final, as version 2, not before the delay
    assert time.monotonic() - started >= SETTLE * 0.9
    assert (settled["failure_code"], settled["version"]) == (failure_code, 2)
    session = psp.session(payment["token"])
    assert session["status"] == ("completed" if final == "succeeded" else "open")
    # and webhooks told about both statuses (the silent one: none at all)
    if events:
        delivered = verified_events(receiver.wait_for(psp.webhook_url, len(events)), SECRET)
        assert sorted(e["type"] for e in delivered) == sorted(events)
    else:
        time.sleep(0.5)
        assert receiver.deliveries(psp.webhook_url) == []
