"""Scaling out, end to end: the BPS as two hosts and a spare worker, all at once against one
PostgreSQL and one Redis, with the sandbox PSP as a real process whose webhooks are duplicated,
dropped and reordered. Host A and host B each run a web (gunicorn) and a Celery worker with its own
beat; a third worker has none. So two schedulers ring `poll_due` every second, a shopper's Buy Now
reaches both webs at once, and host B dies (SIGKILL, worker and beat) while payments settle.

What must hold: one charge per checkout at the PSP; no attempt polled by two polls at once, nor
sooner than the schedule allows; every attempt and checkout as the PSP says in the end, the silent
bank transfers (no webhook ever) learnt by polling alone, within one poll round and one lease of
the kill."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings as django_settings

from checkout.tests.factories import make_api_key
from payments.models import Checkout, PaymentAttempt, PspCall, StatusChange
from payments.schedule import poll_lease
from payments.states import AttemptStatus, CheckoutStatus
from payments.tests.convergence import (
    assert_as_the_psp_says_and_charged_once,
    recovery_bound,
    statuses,
    wait_all_final,
)
from paysite.tests.processes import Sandbox, Web, Worker

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.redis]

METHODS = ["pm_card_visa", "pm_bank_transfer", "pm_bank_transfer_silent", "pm_bank_transfer_fail"]
CHECKOUTS = 24
SETTLE_SECONDS = 7200 * 0.0005  # the session sandbox's settle delay, scaled
WEBHOOK_CHAOS = {"webhooks": {"duplicate": 0.3, "drop": 0.1, "reorder": True}}
BEAT_RINGS = "Sending due task poll-due-payments"
CHECKOUT_OF = {AttemptStatus.SUCCEEDED: CheckoutStatus.PAID, AttemptStatus.FAILED: CheckoutStatus.OPEN}


Bought = tuple[dict[str, Any], list[requests.Response]]  # a checkout, and the two webs' answers to its Buy Now


@dataclass
class Cluster:
    webs: list[Web]
    host_a: Worker  # with a beat
    host_b: Worker  # with a beat: the host that dies
    spare: Worker  # no beat

    @property
    def workers(self) -> list[Worker]:
        return [self.host_a, self.host_b, self.spare]


@pytest.fixture
def cluster(e2e: Sandbox, worker_settings: dict[str, str], settings: Any, tmp_path: Path) -> Iterator[Cluster]:
    """Two webs and three workers, two of them with a beat (each its own schedule file), all on
    this test's queue; each web is its own SITE_URL, so the PSP's webhooks reach both."""
    worker_settings["PSP_TIMEOUT"] = "1"  # so that one poll's lease is seconds, not minutes
    settings.PSP_TIMEOUT = 1  # and poll_lease() here says what the workers hold
    webs = []
    for name in "ab":
        web_settings = {**worker_settings}
        webs.append(Web(web_settings, tmp_path / f"web-{name}.log", options=("--workers", "1", "--threads", "8")))
        web_settings["SITE_URL"] = webs[-1].url  # read when it starts
    cluster = Cluster(
        webs=webs,
        host_a=Worker({**worker_settings, "SITE_URL": webs[0].url}, tmp_path / "worker-a.log"),
        host_b=Worker({**worker_settings, "SITE_URL": webs[1].url}, tmp_path / "worker-b.log"),
        spare=Worker({**worker_settings, "SITE_URL": webs[0].url}, tmp_path / "worker-c.log", beat=False),
    )
    processes: list[Web | Worker] = [*webs, *cluster.workers]
    # Started and stopped side by side: a few seconds each time, not five times that.
    with ThreadPoolExecutor(max_workers=len(processes)) as pool:
        try:
            for started in [pool.submit(process.start) for process in processes]:
                started.result()
            yield cluster
        finally:
            list(pool.map(lambda process: process.stop(), processes))


def _start_checkout(shop: requests.Session, web: Web) -> dict[str, Any]:
    response = shop.post(f"{web.url}/api/checkouts/", json={"amount": "12.50", "currency": "EUR"}, timeout=30)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _buy_now_through_both(webs: list[Web], checkout: dict[str, Any], method: str) -> list[requests.Response]:
    """The same Buy Now, sent to both webs at the same moment (a double click behind a load balancer)."""
    together = threading.Barrier(len(webs))

    def click(web: Web) -> requests.Response:
        together.wait()
        return requests.post(f"{web.url}/api/checkouts/{checkout['id']}/buy-now/", timeout=60,
                             json={"token": checkout["token"], "payment_method": method})

    with ThreadPoolExecutor(max_workers=len(webs)) as pool:
        return list(pool.map(click, webs))


def _wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _shortest_wait_between_polls() -> float:
    """The shortest time the schedule ever leaves between the end of one poll of an attempt and
    the start of the next: after a first poll (the delay has doubled once) of an attempt still
    `started` (a quarter of the first delay), at the low end of the ±10 % jitter."""
    return 0.9 * min(django_settings.PAYMENTS_POLL_FIRST_DELAY / 4 * 2, django_settings.PAYMENTS_POLL_MAX_DELAY)


@dataclass(frozen=True)
class Exchange:
    method: str
    started: datetime
    ended: datetime


def _polls_by_attempt(attempt_ids: list[str]) -> dict[str, list[Exchange]]:
    """Every PSP exchange a poll made, per attempt, oldest first. A call is recorded when it ends,
    after its duration was measured, so [end - duration, end] is when it was in flight."""
    calls = PspCall.objects.filter(cause="poll", attempt_id__in=attempt_ids).order_by("created_at")
    polls: dict[str, list[Exchange]] = defaultdict(list)
    for call in calls:
        started = call.created_at - timedelta(milliseconds=call.duration_ms)
        polls[str(call.attempt_id)].append(Exchange(call.method, started, call.created_at))
    return {attempt: sorted(exchanges, key=lambda exchange: exchange.started) for attempt, exchanges in polls.items()}


def _polled_too_soon(exchanges: list[Exchange]) -> list[str]:
    """The gaps between consecutive exchanges of one attempt that two polls made at once (a
    negative gap) or sooner than the schedule allows: a poll begins with a GET (the payment, or the
    session); a POST is that poll's resend and only has to come after the GET."""
    too_soon = []
    for before, after in pairwise(exchanges):
        gap = (after.started - before.ended).total_seconds()
        shortest = _shortest_wait_between_polls() if after.method == "GET" else 0.0
        if gap < shortest:
            too_soon.append(f"{before.method}, then {after.method} {gap:+.3f} s later at {after.started:%H:%M:%S.%f}")
    return too_soon


def _pay_through_both_webs(shop: requests.Session, webs: list[Web]) -> list[Bought]:
    """CHECKOUTS checkouts (cards, bank transfers, silent ones, failing ones) started on either web,
    each Buy Now clicked through both webs at the same moment."""

    def pay(index: int) -> Bought:
        checkout = _start_checkout(shop, webs[index % 2])
        return checkout, _buy_now_through_both(webs, checkout, METHODS[index % len(METHODS)])

    with ThreadPoolExecutor(max_workers=6) as pool:
        return list(pool.map(pay, range(CHECKOUTS)))


def _attempts_of(bought: list[Bought]) -> list[str]:
    return [answers[0].json()["attempt"]["id"] for _checkout, answers in bought]


def test_two_webs_three_workers_and_two_beats_charge_once_poll_once_and_converge_when_a_beat_dies(
    cluster: Cluster, e2e: Sandbox
) -> None:
    began = time.monotonic()
    # given the PSP's webhooks duplicated (30 %), dropped (10 %) and reordered, and a PSP that takes
    # 0.3 s to answer a payment's status, so that polls are in flight when a host dies
    e2e.faults(WEBHOOK_CHAOS)
    e2e.faults({"path": "/v1/payments/{id}", "fault": "slow:0.3", "times": 100000})
    _record, key = make_api_key()
    shop = requests.Session()
    shop.headers["Authorization"] = f"Bearer {key}"

    # when a first wave of payments settles with both beats ringing
    first_wave = _pay_through_both_webs(shop, cluster.webs)
    took = wait_all_final(_attempts_of(first_wave), recovery_bound())
    assert took is not None, statuses(_attempts_of(first_wave))
    # and a second wave is paid, and host B (its worker and its beat) is SIGKILLed as it settles,
    # once its beat rang and its worker polled
    second_wave = _pay_through_both_webs(shop, cluster.webs)
    paid_at = time.monotonic()
    _wait_for(lambda: "poll_attempt" in cluster.host_b.log(), 30, "host B never polled")
    time.sleep(max(0.0, paid_at + SETTLE_SECONDS - time.monotonic()))
    rings = {"A": cluster.host_a.log().count(BEAT_RINGS), "B": cluster.host_b.log().count(BEAT_RINGS)}
    cluster.host_b.kill()
    killed_at = time.monotonic()

    # then each double click made one attempt: one web made it (201), the other answered with it (200)
    for checkout, answers in first_wave + second_wave:
        assert sorted(answer.status_code for answer in answers) == [200, 201], [a.text for a in answers]
        assert len({answer.json()["attempt"]["id"] for answer in answers}) == 1
        assert PaymentAttempt.objects.filter(checkout_id=checkout["id"]).count() == 1
    # and every attempt is final within one poll round and one poll lease of the kill
    attempt_ids = _attempts_of(first_wave + second_wave)
    took = wait_all_final(attempt_ids, recovery_bound())
    assert took is not None, (statuses(attempt_ids), cluster.host_a.log()[-4000:])
    converged = time.monotonic() - killed_at
    e2e.clear_faults()  # the PSP answers the checks below at once
    # and each is as the PSP says, with one payment per checkout at the PSP and one final status here
    assert_as_the_psp_says_and_charged_once(e2e, attempt_ids)
    attempts = list(PaymentAttempt.objects.filter(id__in=attempt_ids).select_related("checkout"))
    charges = [e2e.get(f"/sandbox/sessions/{attempt.checkout.psp_token}/payments")["data"] for attempt in attempts]
    assert all(sum(payment["status"] == "succeeded" for payment in payments) <= 1 for payments in charges)
    # and each checkout follows its attempt (paid, or open again after a failure)
    for attempt in attempts:
        assert Checkout.objects.get(id=attempt.checkout_id).status == CHECKOUT_OF[AttemptStatus(attempt.status)]
    # and the silent bank transfers, of which no webhook ever came, were learnt by a poll
    silent = [attempt for attempt in attempts if attempt.payment_method == "pm_bank_transfer_silent"]
    assert {attempt.status for attempt in silent} == {AttemptStatus.SUCCEEDED}
    assert all(StatusChange.objects.get(attempt=attempt, to_status=AttemptStatus.SUCCEEDED).cause == "poll"
               for attempt in silent)

    # and both beats rang poll_due, yet no attempt was polled by two polls at once or sooner than
    # its schedule allows (a doorbell rung twice polls once: the other is "claimed elsewhere")
    assert rings["A"] >= 3 and rings["B"] >= 3, rings
    polls = _polls_by_attempt(attempt_ids)
    too_soon = {attempt: pairs for attempt, exchanges in polls.items() if (pairs := _polled_too_soon(exchanges))}
    assert not too_soon, too_soon

    logs = "".join(worker.log() for worker in cluster.workers)
    exchanges = Counter({attempt: len(calls) for attempt, calls in polls.items()})
    taken = sum(PaymentAttempt.objects.filter(id__in=attempt_ids).values_list("poll_count", flat=True))
    rung = sum(int(found) for found in re.findall(r"poll_due\[[^]]+\] succeeded in [0-9.]+s: (\d+)", logs))
    print(
        f"\n{len(attempt_ids)} checkouts, {len(attempt_ids) * 2} Buy Now clicks through 2 webs; "
        f"charges at the PSP: {sum(len(payments) for payments in charges)} payments, "
        f"{sum(payment['status'] == 'succeeded' for payments in charges for payment in payments)} succeeded; "
        f"final: {dict(statuses(attempt_ids))}\n"
        f"poll_due rung by beat A {rings['A']}x and beat B {rings['B']}x before B was killed; "
        f"{rung} doorbells rung, {taken} polls taken, {logs.count('claimed elsewhere')} doorbells found their "
        f"row claimed elsewhere; {sum(exchanges.values())} poll exchanges with the PSP over {len(exchanges)} "
        f"attempts (at most {max(exchanges.values(), default=0)} for one); lease {poll_lease().total_seconds():.1f} s\n"
        f"converged {converged:.1f} s after the kill (bound {recovery_bound():.1f} s); "
        f"the test took {time.monotonic() - began:.1f} s after start-up"
    )
