"""The webhook knobs: duplicate, drop and reorder."""

from __future__ import annotations

import json
import time

import pytest

from .client import Psp
from .receiver import Receiver, verified_events
from .sandbox_process import SECRET

pytestmark = pytest.mark.sandbox


def test_duplicate_sends_a_second_copy_of_each_event(psp: Psp, receiver: Receiver) -> None:
    # given duplicate set to certainty
    psp.arm({"webhooks": {"duplicate": 1.0}})
    # when a payment is made
    psp.paid()
    # then its one event arrives twice: same id, same body
    deliveries = receiver.wait_for(psp.webhook_url, 2)
    assert deliveries[0].headers["webhook-id"] == deliveries[1].headers["webhook-id"]
    assert deliveries[0].body == deliveries[1].body
    assert len(verified_events(deliveries, SECRET)) == 2
    time.sleep(0.2)
    assert len(receiver.deliveries(psp.webhook_url)) == 2


def test_drop_loses_events_for_good(psp: Psp, receiver: Receiver) -> None:
    # given drop set to certainty
    psp.arm({"webhooks": {"drop": 1.0}})
    # when a payment is made
    payment = psp.paid()
    # then no event about it ever arrives, while the API still tells the truth
    time.sleep(0.5)
    assert receiver.deliveries(psp.webhook_url) == []
    assert psp.payment(payment["id"])["status"] == "succeeded"
    # and once the knob is back to 0, events flow again
    psp.arm({"webhooks": {"drop": 0}})
    psp.paid()
    receiver.wait_for(psp.webhook_url, 1)


def test_knobs_are_merged_into_the_current_settings(psp: Psp) -> None:
    psp.arm({"webhooks": {"duplicate": 0.3}})
    answer = psp.arm({"webhooks": {"reorder": True}})
    assert answer["webhooks"] == {"duplicate": 0.3, "drop": 0.0, "reorder": True}
    assert psp.get("/sandbox/faults").json()["webhooks"] == answer["webhooks"]


def test_reorder_holds_events_of_one_payment_and_sends_the_newest_first(psp: Psp, receiver: Receiver) -> None:
    # given reorder on
    psp.arm({"webhooks": {"reorder": True}})
    # when a 3-D Secure payment is made and approved within a second
    started = time.monotonic()
    payment = psp.paid("pm_card_3ds")
    psp.http.post(
        f"{psp.url}/sandbox/3ds/{payment['id']}/approve",
        allow_redirects=False,
        timeout=10,
    )
    # then both events are held about a second, then arrive newest first
    deliveries = receiver.wait_for(psp.webhook_url, 2)
    assert deliveries[0].received_at - started >= 0.95
    types = [json.loads(delivery.body)["type"] for delivery in deliveries]
    assert types == ["payment.succeeded", "payment.requires_action"]


def test_without_reorder_events_come_at_once(psp: Psp, receiver: Receiver) -> None:
    started = time.monotonic()
    psp.paid()
    receiver.wait_for(psp.webhook_url, 1)
    assert time.monotonic() - started < 0.9  # the reorder hold would be 1 s
