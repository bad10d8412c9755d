"""Storefront notifications end to end: the live BPS, the sandbox PSP and a real Celery worker with its
beat (PostgreSQL and Redis), delivering to receiver processes that verify every signature with the
`standardwebhooks` library, as a shop would (paysite/tests/event_receiver.py). The outbox's and the
delivery's rules one by one are in test_outbox.py and test_notification_delivery.py; here they meet
the real flows, a crash, and the PSP's webhook chaos."""

from __future__ import annotations

import io
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
import requests
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from checkout.tasks import expire_checkouts
from checkout.tests.factories import make_api_key
from payments.models import Checkout, NotificationEndpoint, PaymentAttempt, Refund, StorefrontEvent
from payments.notifications import delivery_lease
from payments.outbox import EVENT_TYPES
from payments.states import FINAL_ATTEMPT_STATUSES
from paysite.tests.processes import EventReceiver, Worker

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.redis]

Event = dict[str, Any]


def wait_for(condition: Callable[[], Any], timeout: float = 60.0, every: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return bool(condition())


def storefront_webhook(name: str, url: str) -> str:
    """`manage.py storefront_webhook NAME URL`, as the shop's operator runs it; returns the secret it prints."""
    out = io.StringIO()
    call_command("storefront_webhook", name, url, stdout=out)
    return out.getvalue().splitlines()[-1]


class Shop:
    """A storefront's backend: its API key against the live BPS, and its notification endpoint."""

    def __init__(self, name: str, base: str, receiver: EventReceiver):
        _record, key = make_api_key(name)
        self.name, self.base, self.receiver = name, base, receiver
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {key}"

    def checkout(self, amount: str = "12.50") -> dict[str, Any]:
        response = self.http.post(f"{self.base}/api/checkouts/", json={"amount": amount, "currency": "EUR"},
                                  timeout=30)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def buy(self, checkout: dict[str, Any], method: str) -> dict[str, Any]:
        """The shopper's Buy Now (no API key: the checkout's token)."""
        response = requests.post(f"{self.base}/api/checkouts/{checkout['id']}/buy-now/",
                                 json={"token": checkout["token"], "payment_method": method}, timeout=60)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def refund(self, checkout: dict[str, Any], amount: str) -> str:
        response = self.http.post(f"{self.base}/api/checkouts/{checkout['id']}/refunds/", json={"amount": amount},
                                  timeout=30)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def read(self, checkout_id: str) -> dict[str, Any]:
        """GET /api/checkouts/{id}/ (safe from several threads: no shared session)."""
        response = requests.get(f"{self.base}/api/checkouts/{checkout_id}/", headers=self.http.headers, timeout=10)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def events(self) -> dict[str, Event]:
        """Every event that arrived, by id (a duplicate is one event), its signature verified."""
        arrived: dict[str, Event] = {}
        for delivery in self.receiver.received():
            assert delivery["verified"], delivery
            event = json.loads(delivery["body"])
            assert event["id"] == delivery["headers"]["webhook-id"]
            arrived[event["id"]] = event
        return arrived

    def by_checkout(self) -> dict[str, list[tuple[int, str]]]:
        """Per checkout id, its (sequence, type) pairs, in the order of sequence."""
        found: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for event in self.events().values():
            found[event["data"]["id"]].append((event["sequence"], event["type"]))
        return {checkout_id: sorted(pairs) for checkout_id, pairs in found.items()}


@pytest.fixture
def shops(e2e, live_server) -> Iterator[Callable[..., Shop]]:
    """Make storefronts, each pointed (by the management command) at a receiver process of its own."""
    receivers: list[EventReceiver] = []

    def make(name: str, *, path: str = "/events", fail_first: int = 0, hold: float = 0.0) -> Shop:
        receiver = EventReceiver(fail_first=fail_first, hold=hold)
        secret = storefront_webhook(name, f"{receiver.url}{path}")
        receivers.append(receiver.start(secret))
        return Shop(name, live_server.url, receiver)

    yield make
    for receiver in receivers:
        receiver.stop()


def all_delivered() -> bool:
    return not StorefrontEvent.objects.exclude(delivery=StorefrontEvent.Delivery.DELIVERED).exists()


def delivered_log(worker: Worker) -> Callable[[], str]:
    """What to show when a wait runs out: the events not delivered, and the worker's last lines."""
    def describe() -> str:
        stuck = StorefrontEvent.objects.exclude(delivery=StorefrontEvent.Delivery.DELIVERED).values_list(
            "public_id", "type", "delivery", "attempts", "last_status_code", "last_error")
        return f"{list(stuck)[:20]}\n{worker.log()[-3000:]}"
    return describe


# The contract's list, each reported as one event type, and the checkout status its data shows.
CHECKOUT_STATUS_OF = {
    "checkout.processing": "processing", "checkout.paid": "paid", "checkout.payment_failed": "open",
    "checkout.partially_refunded": "partially_refunded", "checkout.refunded": "refunded",
    "checkout.expired": "expired",
}


def test_every_status_of_the_contract_reaches_the_shop_as_its_one_event_type_through_the_real_flows(
    shops, worker
):
    shop = shops("shop")
    # given a paid card, a declined card, a bank transfer and a checkout nobody pays
    paid, declined, transfer, abandoned = (shop.checkout("20.00") for _ in range(4))
    assert shop.buy(paid, "pm_card_visa")["attempt"]["status"] == "succeeded"
    assert shop.buy(declined, "pm_card_declined")["attempt"]["status"] == "failed"
    assert shop.buy(transfer, "pm_bank_transfer")["attempt"]["status"] == "pending"
    # when the paid one is refunded in part, refused a refund (the sandbox fails amounts ending in 13),
    # then refunded in full; and the abandoned one's time runs out
    partial, refused = shop.refund(paid, "1.00"), shop.refund(paid, "5.13")
    assert wait_for(lambda: set(Refund.objects.filter(id__in=[partial, refused]).values_list("status", flat=True))
                    == {"succeeded", "failed"}, timeout=30), worker.log()[-3000:]
    rest = shop.refund(paid, "19.00")
    Checkout.objects.filter(id=abandoned["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    expire_checkouts.delay()  # what the worker's beat runs every minute
    assert wait_for(lambda: Refund.objects.get(id=rest).status == "succeeded"
                    and shop.read(transfer["id"])["status"] == "paid"
                    and shop.read(abandoned["id"])["status"] == "expired", timeout=40), worker.log()[-3000:]
    assert wait_for(lambda: all_delivered() and len(shop.events()) == StorefrontEvent.objects.count(),
                    timeout=30), delivered_log(worker)()
    # then each change reached the shop once, as the event type of its status, numbered 1, 2, 3…
    events = shop.events()
    timeline = shop.by_checkout()
    assert timeline[declined["id"]] == [(1, "checkout.processing"), (2, "checkout.payment_failed")]
    assert timeline[transfer["id"]] == [(1, "checkout.processing"), (2, "checkout.paid")]
    assert timeline[abandoned["id"]] == [(1, "checkout.expired")]
    paid_types = [event_type for _sequence, event_type in timeline[paid["id"]]]
    assert [sequence for sequence, _type in timeline[paid["id"]]] == list(range(1, 8))
    assert Counter(paid_types) == Counter(["checkout.processing", "checkout.paid", "refund.succeeded", "refund.failed",
                                           "checkout.partially_refunded", "refund.succeeded", "checkout.refunded"])
    # the checkout's own moves in their order; a refund's event may come before or after the
    # checkout's (the PSP's payment.refunded and refund.succeeded webhooks race)
    assert [kind for kind in paid_types if kind.startswith("checkout.")] == [
        "checkout.processing", "checkout.paid", "checkout.partially_refunded", "checkout.refunded"]
    assert {event["type"] for event in events.values()} == set(EVENT_TYPES)
    # and each event says what it reports: the checkout as the API shows it, or the refund that ended
    refund_of_amount = {"1.00": partial, "5.13": refused, "19.00": rest}
    for event in events.values():
        if event["type"] in CHECKOUT_STATUS_OF:
            assert event["data"]["status"] == CHECKOUT_STATUS_OF[event["type"]], event
        else:
            refund = event["data"]["refund"]
            assert (refund["status"], refund["id"]) == (
                event["type"].removeprefix("refund."), refund_of_amount[refund["amount"]]), event
    # exactly the outbox's bodies, each signed with the storefront's secret (the receiver verified them)
    assert {event.public_id: event.body for event in StorefrontEvent.objects.all()} == events
    # and that verification is no formality: a copy with one byte changed is refused
    genuine = shop.receiver.received()[0]
    tampered = genuine["body"].replace('"sequence":', '"sequence":1', 1)
    requests.post(f"{shop.receiver.url}/events", data=tampered.encode(), headers=genuine["headers"], timeout=5)
    copy = shop.receiver.received()[-1]
    assert (copy["body"], copy["verified"], copy["answered"]) == (tampered, False, 401)


def test_a_receiver_answering_500_three_times_gets_each_event_four_times_and_then_no_more(shops, worker):
    # given a shop whose endpoint fails the first three deliveries of every event
    shop = shops("shop", fail_first=3)
    # when a card payment makes two events (processing, paid)
    shop.buy(shop.checkout(), "pm_card_visa")
    assert wait_for(lambda: StorefrontEvent.objects.count() == 2 and all_delivered(), timeout=40), (
        delivered_log(worker)())
    time.sleep(2)  # eight sweeps of the beat: nothing more may come
    # then each event came four times: 500, 500, 500, 200, at least the (scaled) retry delays apart
    deliveries: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for delivery in shop.receiver.received():
        assert delivery["verified"], delivery
        deliveries[delivery["headers"]["webhook-id"]].append(delivery)
    assert set(deliveries) == set(StorefrontEvent.objects.values_list("public_id", flat=True))
    for tries in deliveries.values():
        assert [delivery["answered"] for delivery in tries] == [500, 500, 500, 200]
        gaps = [later["received_at"] - earlier["received_at"] for earlier, later in pairwise(tries)]
        assert gaps[1] >= 300 * 0.002 and gaps[2] >= 1800 * 0.002, gaps
    assert set(StorefrontEvent.objects.values_list("attempts", "last_status_code")) == {(4, 200)}


def test_a_worker_killed_mid_delivery_loses_nothing(shops, worker_settings, tmp_path):
    # given a shop that holds its answer to the first delivery for longer than the test needs
    shop = shops("shop", hold=60)
    first = Worker(worker_settings, tmp_path / "first.log").start()
    checkout = shop.checkout()
    shop.buy(checkout, "pm_card_visa")
    # when the worker is SIGKILLed (main process, pool and beat) while that POST is in flight
    try:
        assert wait_for(lambda: shop.receiver.received(), timeout=20), first.log()[-3000:]
    finally:
        first.kill()
    (held,) = shop.receiver.received()
    assert held["answered"] is None
    in_flight = StorefrontEvent.objects.get(public_id=held["headers"]["webhook-id"])
    assert (in_flight.delivery, in_flight.attempts, in_flight.sequence) == ("pending", 0, 1)
    # then a new worker delivers it once the dead one's lease has run out, and the event after it too
    second = Worker(worker_settings, tmp_path / "second.log").start()
    try:
        assert wait_for(lambda: StorefrontEvent.objects.count() == 2 and all_delivered(), timeout=40), (
            delivered_log(second)())
    finally:
        second.stop()
    again, *rest = shop.receiver.received()[1:]
    assert (again["headers"]["webhook-id"], again["answered"]) == (held["headers"]["webhook-id"], 200)
    assert again["received_at"] - held["received_at"] >= delivery_lease().total_seconds() - 1
    assert [event_type for _sequence, event_type in shop.by_checkout()[checkout["id"]]] == [
        "checkout.processing", "checkout.paid"]
    assert len(rest) == 1 and rest[0]["answered"] == 200
    in_flight.refresh_from_db()
    assert (in_flight.delivery, in_flight.attempts) == ("delivered", 1)  # the killed try recorded nothing


# The methods of the PSP's own chaos test (webhooks/tests/test_e2e_worker.py), 3-D Secure answered on its page.
METHODS = [
    "pm_card_visa", "pm_card_mastercard", "pm_card_declined", "pm_card_insufficient_funds", "pm_card_expired",
    "pm_card_3ds:approve", "pm_card_3ds:decline", "pm_bank_transfer", "pm_bank_transfer_fail",
    "pm_bank_transfer_silent",
]
CHAOS_SHOPS = 2  # two storefronts, so that the chaos also checks that their events never cross


def test_under_the_psps_webhook_chaos_each_checkouts_highest_sequence_event_is_its_final_state(shops, e2e, worker):
    # given the PSP duplicates half of its events, drops 30 % and reorders close ones
    storefronts = [shops(f"shop-{index}") for index in range(CHAOS_SHOPS)]
    e2e.faults({"webhooks": {"duplicate": 0.5, "drop": 0.3, "reorder": True}})

    def one_payment(index: int) -> tuple[Shop, str, str]:
        shop = storefronts[index % CHAOS_SHOPS]
        method, _, button = METHODS[index % len(METHODS)].partition(":")
        checkout = shop.checkout()
        answer = shop.buy(checkout, method)
        if button:
            psp_payment_id = PaymentAttempt.objects.get(id=answer["attempt"]["id"]).psp_payment_id
            requests.post(f"{e2e.url}/sandbox/3ds/{psp_payment_id}/{button}", allow_redirects=False, timeout=30)
        connection.close()
        return shop, checkout["id"], answer["attempt"]["id"]

    # when 200 checkouts are paid with mixed methods
    with ThreadPoolExecutor(max_workers=4) as pool:
        paid = list(pool.map(one_payment, range(200)))
    attempt_ids = [attempt_id for _shop, _checkout, attempt_id in paid]
    settled = lambda: PaymentAttempt.objects.filter(  # noqa: E731
        id__in=attempt_ids, status__in=FINAL_ATTEMPT_STATUSES).count() == 200
    assert wait_for(settled, timeout=120, every=1), Counter(
        PaymentAttempt.objects.filter(id__in=attempt_ids).values_list("status", flat=True))
    assert wait_for(all_delivered, timeout=90, every=1), delivered_log(worker)()
    # then every event arrived, no checkout misses a sequence number, and the event of each
    # checkout's highest sequence (what a shop keeps) shows the checkout as the API does now
    with ThreadPoolExecutor(max_workers=8) as pool:
        now = dict(pool.map(lambda owned: (owned[1], owned[0].read(owned[1])), paid))
    for shop in storefronts:
        own = {checkout_id for owner, checkout_id, _attempt in paid if owner is shop}
        outbox = set(StorefrontEvent.objects.filter(storefront__name=shop.name).values_list("public_id", flat=True))
        assert set(shop.events()) == outbox
        timelines = shop.by_checkout()
        assert set(timelines) == own
        for checkout_id, timeline in timelines.items():
            assert [sequence for sequence, _type in timeline] == list(range(1, len(timeline) + 1)), timeline
            assert Checkout.objects.get(id=checkout_id).event_sequence == len(timeline)
        latest = shop.receiver.latest()
        for checkout_id in own:
            kept = latest[checkout_id]["data"]
            truth = now[checkout_id]
            assert (kept["status"], kept["payment"]["status"]) == (truth["status"], truth["payment"]["status"]), (
                timelines[checkout_id])


def test_a_storefronts_events_never_reach_another_storefronts_url(shops, worker):
    # given two storefronts, each with its endpoint (its own port, path and secret)
    first, second = shops("first", path="/first-events"), shops("second", path="/second-events")
    # when both sell
    sold = {shop.name: [shop.checkout() for _ in range(3)] for shop in (first, second)}
    for shop in (first, second):
        for checkout in sold[shop.name]:
            shop.buy(checkout, "pm_card_visa")
    assert wait_for(lambda: StorefrontEvent.objects.count() == 12 and all_delivered(), timeout=30), (
        delivered_log(worker)())
    # then each endpoint got its own storefront's events only, all verified with its own secret
    for shop in (first, second):
        deliveries = shop.receiver.received()
        assert {delivery["path"] for delivery in deliveries} == {f"/{shop.name}-events"}
        assert {event["data"]["id"] for event in shop.events().values()} == {c["id"] for c in sold[shop.name]}
        assert set(shop.events()) == set(
            StorefrontEvent.objects.filter(storefront__name=shop.name).values_list("public_id", flat=True))


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/events", "http://10.1.2.3/events",
                                 "http://169.254.169.254/latest/meta-data/"])
def test_the_command_refuses_a_private_url_unless_allowed(db, settings, url):
    settings.NOTIFY_ALLOW_PRIVATE_URLS = False
    with pytest.raises(CommandError, match="not a public address"):
        storefront_webhook("shop", url)
    assert not NotificationEndpoint.objects.exists()
    settings.NOTIFY_ALLOW_PRIVATE_URLS = True
    secret = storefront_webhook("shop", url)
    assert secret.startswith("whsec_") and secret == NotificationEndpoint.objects.get(storefront__name="shop").secret


def test_a_storefront_with_a_backlog_gets_more_than_one_event_per_sweep(shops, worker_settings, tmp_path):
    """A healthy endpoint must drain a burst faster than one event per beat sweep: at the default
    sweep (2 s) that is 1,800 events an hour, fewer than a busy shop's changes, and the sweeper of
    expiries alone makes up to 500 at once."""
    worker_settings["NOTIFY_SWEEP_INTERVAL"] = "2"  # the default
    shop = shops("shop")
    checkouts = [shop.checkout() for _ in range(10)]
    Checkout.objects.filter(id__in=[checkout["id"] for checkout in checkouts]).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    process = Worker(worker_settings, tmp_path / "worker.log").start()
    try:
        expire_checkouts.delay()
        assert wait_for(lambda: StorefrontEvent.objects.count() == 10, timeout=20)
        # within three sweeps (6 s) a receiver that answers at once has all ten
        assert wait_for(all_delivered, timeout=6), (
            f"{StorefrontEvent.objects.filter(delivery='delivered').count()} of 10 delivered in 6 s")
    finally:
        process.stop()
