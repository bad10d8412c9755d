"""Outside review of issue 13 (storefront notifications): failing tests that prove what the review
found. Each test states the contract or the issue's promise it holds the code to; each fails on
main at 9fcbdf7. Unit level: a real HTTP server on a thread, PostgreSQL, threads for the races."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from checkout.tests.factories import make_api_key, make_checkout
from payments.locks import lock_attempt, lock_checkout
from payments.models import NotificationEndpoint, StorefrontEvent
from payments.notifications import (
    delivery_lease,
    endpoint_set,
    event_deliver,
    events_claim_due,
    events_send_again,
)
from payments.notify_urls import UrlRefused, check_notification_url
from payments.psp.types import PspRefund
from payments.refunds import refund_apply, refund_record
from payments.selectors import storefront_events_after
from payments.states import AttemptStatus
from payments.tests.factories import make_attempt
from payments.transitions import Cause, move_attempt

CAUSE = Cause(kind="system")


class Receiver:
    """An endpoint that records every request; `cookie` makes it answer with a Set-Cookie, `drip`
    makes it send its answer one byte every `drip` seconds (a slow, not a dead, endpoint)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.cookie = ""
        self.drip = 0.0
        self.answering = 0  # requests whose answer is still being sent
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                head = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                if receiver.cookie:
                    head += f"Set-Cookie: {receiver.cookie}; Path=/\r\n"
                answer = (head + "\r\nok").encode()
                if not receiver.drip:
                    self.wfile.write(answer)
                    return
                receiver.answering += 1
                try:
                    for byte in answer:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(receiver.drip)
                except OSError:
                    pass
                finally:
                    receiver.answering -= 1

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:  # type: ignore[no-untyped-def]
    settings.NOTIFY_ALLOW_PRIVATE_URLS = True
    settings.NOTIFY_TIMEOUT = 2
    server = Receiver()
    yield server
    server.server.shutdown()


def _paid_event(storefront_name: str = "shop") -> StorefrontEvent:
    endpoint = NotificationEndpoint.objects.get(storefront__name=storefront_name)
    attempt = make_attempt(make_checkout(storefront=endpoint.storefront))
    with transaction.atomic():
        checkout, locked = lock_attempt(attempt.id)
        move_attempt(checkout, locked, AttemptStatus.SUCCEEDED, CAUSE)
    return StorefrontEvent.objects.get(checkout=checkout)


# --- 1. SSRF: the URL is checked on one DNS answer and connected to on another ------------------
@pytest.mark.django_db
def test_a_host_that_rebinds_to_loopback_after_the_check_receives_the_delivery(receiver, settings, monkeypatch):
    """The issue: "refuse URLs that resolve to loopback, private … addresses". The check resolves
    the host itself, then requests resolves it again to connect: a name with a zero TTL that
    answers a public address to the first lookup and 127.0.0.1 to the second (DNS rebinding) gets
    our POST onto loopback."""
    real = socket.getaddrinfo

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.shop.test":
            asked_by = sys._getframe(1).f_globals.get("__name__")
            address = "93.184.215.14" if asked_by == "payments.notify_urls" else "127.0.0.1"
            return real(address, port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    settings.NOTIFY_ALLOW_PRIVATE_URLS = False
    endpoint_set(storefront_name="shop", url=f"http://rebind.shop.test:{receiver.port}/events")
    _paid_event()
    (pk, claim), = events_claim_due(limit=50)
    event_deliver(event_pk=pk, claim=claim)
    assert receiver.requests == [], "a POST reached 127.0.0.1 although the URL's check refused private addresses"


@pytest.mark.parametrize("address", [
    "64:ff9b::a9fe:a9fe",   # NAT64 (RFC 6052) form of 169.254.169.254, the metadata service
    "64:ff9b::7f00:1",      # NAT64 form of 127.0.0.1
    "2002:a9fe:a9fe::1",    # 6to4 form of 169.254.169.254
    "::127.0.0.1",          # IPv4-compatible IPv6 (deprecated) form of loopback
    "::ffff:0:a00:1",       # SIIT IPv4-translated form of 10.0.0.1
])
def test_ipv6_forms_that_embed_a_private_ipv4_address_are_refused(address):
    """Python 3.11's `is_global` calls all of these public; in a NAT64/DNS64 network (IPv6-only
    clusters) the first two reach the metadata service and loopback of the gateway's side."""
    with pytest.raises(UrlRefused):
        check_notification_url(f"http://[{address}]/events", allow_private=False)


# --- 2. Cookies: one Session for every storefront --------------------------------------------
@pytest.mark.django_db
def test_a_cookie_set_by_one_storefronts_endpoint_is_never_sent_to_another_storefront(receiver):
    """README: "Nothing else of ours is sent: no API key, no cookie." The module-wide
    requests.Session keeps a cookie jar: a cookie one endpoint sets is sent with later deliveries to
    every endpoint on that host, another storefront's included (shops on one SaaS platform host)."""
    endpoint_set(storefront_name="shop", url=receiver.url.replace("/events", "/shop-a"))
    endpoint_set(storefront_name="other", url=receiver.url.replace("/events", "/shop-b"))
    receiver.cookie = "session=shop-a-secret"
    _paid_event("shop")
    for pk, claim in events_claim_due(limit=50):
        event_deliver(event_pk=pk, claim=claim)
    receiver.cookie = ""
    _paid_event("other")
    for pk, claim in events_claim_due(limit=50):
        event_deliver(event_pk=pk, claim=claim)
    (_path, headers), = [request for request in receiver.requests if request[0] == "/shop-b"]
    assert "cookie" not in headers, f"storefront 'other' received shop A's cookie: {headers.get('cookie')}"


# --- 3. A slow endpoint outlives its lease: two deliveries in flight, the attempt never counted ---
@pytest.mark.django_db(transaction=True)
def test_a_slow_answering_endpoint_never_holds_more_than_one_delivery_in_flight(receiver, settings):
    """The issue: "one slow endpoint never holds more than its share of the workers"; the contract:
    a delivery counts when answered within 10 s. requests' timeout is per socket read, so an
    endpoint that sends its answer a byte at a time keeps the worker far past NOTIFY_TIMEOUT and past
    the claim's lease (2 * timeout + 5 s); the sweep then claims the endpoint again while the first
    delivery is still running, and the first one's outcome is thrown away ("claim lost")."""
    settings.NOTIFY_TIMEOUT = 0.5  # lease 6 s
    receiver.drip = 0.2  # ~50 bytes: about 10 s to answer
    endpoint_set(storefront_name="shop", url=receiver.url)
    _paid_event()
    _paid_event()
    (pk, claim), = events_claim_due(limit=50)
    outcome: list[str] = []

    def deliver() -> None:
        try:
            outcome.append(event_deliver(event_pk=pk, claim=claim))
        finally:
            connection.close()

    first = threading.Thread(target=deliver)
    started = time.monotonic()
    first.start()
    time.sleep(delivery_lease().total_seconds() + 0.5)
    second_claims = events_claim_due(limit=50)  # the beat's sweep, one lease later
    still_in_flight = first.is_alive()
    first.join(30)
    took = time.monotonic() - started
    assert not (still_in_flight and second_claims), (
        f"the endpoint had two deliveries in flight: the first ran {took:.1f} s with NOTIFY_TIMEOUT 0.5 s")
    # In a worker the task's soft time limit (NOTIFY_TIMEOUT + 2 s, payments/tasks.py) cuts the
    # drip off; called directly, as here, it runs on, and an answer that came too late is a failed
    # try, recorded (not thrown away), never counted as delivered.
    assert outcome == ["pending"]
    event = StorefrontEvent.objects.get(pk=pk)
    assert (event.attempts, event.last_error.startswith("answered after")) == (1, True)


# --- 4. Two claimers at once (the beat's sweep and a worker's chained claim) ------------------
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_claims_never_put_two_deliveries_of_one_endpoint_in_flight(receiver):
    """notifications.py: "An endpoint has at most one delivery in flight". The `busy` exclusion reads
    committed claims only, and SKIP LOCKED skips the rows another claimer holds: a worker's chained
    `event_claim_next` (limit 1, so it locks the endpoint's 4 oldest due rows) and the beat's sweep
    running at the same moment claim two events of one endpoint, and both deliveries then chain on
    (two, then more, workers for one endpoint)."""
    endpoint_set(storefront_name="shop", url=receiver.url)
    for _ in range(6):  # a busy shop's backlog
        _paid_event()
    storefront_id = NotificationEndpoint.objects.get().storefront_id
    in_claim, go_on = threading.Event(), threading.Event()
    chained: list[Any] = []

    def chained_claim() -> None:
        try:
            with transaction.atomic():  # event_claim_next's transaction, a moment before its commit
                chained.extend(events_claim_due(limit=1, storefront_id=storefront_id))
                in_claim.set()
                go_on.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=chained_claim)
    thread.start()
    assert in_claim.wait(10)
    swept = events_claim_due(limit=50)  # the beat's sweep, at the same moment
    go_on.set()
    thread.join(10)
    assert len(chained) == 1
    assert swept == [], f"two deliveries of one endpoint in flight: {chained} and {swept}"
    in_flight = StorefrontEvent.objects.filter(storefront_id=storefront_id, claimed_until__gt=timezone.now())
    assert in_flight.count() == 1


# --- 5. "Send again" on an event in flight ------------------------------------------------------
@pytest.mark.django_db
def test_send_again_of_an_event_in_flight_does_not_start_a_second_delivery_to_its_endpoint(receiver):
    """`events_send_again` clears `claimed_until` and bumps the claim of an event being delivered:
    the endpoint looks idle, the next sweep claims the same event again while the first POST is
    still running (two in flight), and the first delivery's outcome is dropped as "claim lost"."""
    endpoint_set(storefront_name="shop", url=receiver.url)
    event = _paid_event()
    (pk, claim), = events_claim_due(limit=50)  # a worker is POSTing it now
    events_send_again(event_pks=[event.pk])  # staff press "send again" meanwhile
    assert events_claim_due(limit=50) == [], "the endpoint got a second delivery while one was in flight"
    assert event_deliver(event_pk=pk, claim=claim) == "pending"  # delivered, and due again as staff asked
    event.refresh_from_db()
    assert (event.last_status_code, event.attempts, event.send_again) == (200, 0, False), (
        "the in-flight delivery's outcome was lost")
    assert [event_deliver(event_pk=p, claim=c) for p, c in events_claim_due(limit=50)] == ["delivered"]


# --- 6. The catch-up API pages past an event that commits late --------------------------------
@pytest.mark.django_db(transaction=True)
def test_catching_up_never_steps_past_an_event_whose_transaction_commits_late(settings):
    """The contract: GET /api/events/?after= lists the storefront's events after that one, so a shop
    that was down can catch up. Ids are taken at insert; a 2 s `created_at` margin (app clocks, and
    transactions that run on after writing their event: lock waits, a slow commit) is no fence. An
    event inserted first and committed after a newer one is never listed to a reader that paged
    past the newer one."""
    settings.NOTIFY_ALLOW_PRIVATE_URLS = True
    endpoint_set(storefront_name="shop", url="http://127.0.0.1:9/events")
    api_key, _key = make_api_key("shop")
    storefront_id = api_key.storefront_id
    slow_attempt = make_attempt(make_checkout(storefront=api_key.storefront))
    fast_attempt = make_attempt(make_checkout(storefront=api_key.storefront))
    written, go_on = threading.Event(), threading.Event()

    def slow_change() -> None:
        try:
            with transaction.atomic():
                checkout, locked = lock_attempt(slow_attempt.id)
                move_attempt(checkout, locked, AttemptStatus.SUCCEEDED, CAUSE)  # the event's id is taken
                written.set()
                go_on.wait(10)  # …and its transaction goes on (a lock wait, a slow commit)
        finally:
            connection.close()

    def fast_change() -> None:
        try:
            with transaction.atomic():
                checkout, locked = lock_attempt(fast_attempt.id)
                move_attempt(checkout, locked, AttemptStatus.SUCCEEDED, CAUSE)  # waits for the slow one's commit
        finally:
            connection.close()

    slow = threading.Thread(target=slow_change)
    slow.start()
    assert written.wait(10)
    fast = threading.Thread(target=fast_change)
    fast.start()
    fast.join(1)
    assert fast.is_alive(), "a second event of the storefront took its position before the first one committed"
    first_page = storefront_events_after(storefront_id=storefront_id, after="", limit=100)
    go_on.set()
    slow.join(10)
    fast.join(10)
    assert first_page == ([], False)  # nothing committed yet: nothing listed, nothing stepped past
    page, _more = storefront_events_after(storefront_id=storefront_id, after="", limit=100) or ([], False)
    every = list(StorefrontEvent.objects.filter(storefront_id=storefront_id).order_by("position")
                 .values_list("public_id", "position"))
    assert [event["id"] for event in page] == [public_id for public_id, _position in every]
    assert [position for _id, position in every] == [1, 2]


# --- 7. The refund event's data is a checkout that never existed --------------------------------
@pytest.mark.django_db
def test_the_highest_sequence_event_carries_the_checkout_as_committed_after_a_second_partial_refund(client, settings):
    """README: keep the highest `sequence` per checkout; `data` is the checkout "as it stood".
    `refund_apply` writes refund.succeeded (move_refund) before it raises the attempt's refunded
    amount (_raise_refunded_amount), so its `data` is the checkout before the refund counted. For a
    second partial refund no checkout.* event follows (the status stays partially_refunded), so the
    shop's newest event says 1.00 refunded for ever while GET /api/checkouts/{id}/ says 3.00."""
    settings.NOTIFY_ALLOW_PRIVATE_URLS = True
    endpoint_set(storefront_name="shop", url="http://127.0.0.1:9/events")
    _record, key = make_api_key("shop")
    checkout = make_checkout(storefront=_record.storefront, amount=Decimal("10.00"))
    attempt = make_attempt(checkout, psp_payment_id="pay_1")
    with transaction.atomic():
        locked_checkout, locked = lock_attempt(attempt.id)
        move_attempt(locked_checkout, locked, AttemptStatus.SUCCEEDED, CAUSE)
    for number, amount in enumerate((Decimal("1.00"), Decimal("2.00"))):
        with transaction.atomic():
            refund = refund_record(checkout=lock_checkout(checkout.id), amount=amount, reason="", cause=CAUSE)
        refund_apply(refund_id=refund.id, answer=PspRefund(id=f"re_{number}", payment_id="pay_1", amount=amount,
                                                           currency="EUR", status="succeeded"), cause=CAUSE)
    newest = StorefrontEvent.objects.filter(checkout=checkout).order_by("-sequence").first()
    assert newest is not None
    api = client.get(f"/api/checkouts/{checkout.id}/", HTTP_AUTHORIZATION=f"Bearer {key}").json()
    assert api["payment"]["refunded_amount"] == "3.00"
    assert (newest.type, newest.body["data"]["payment"]["refunded_amount"]) == ("refund.succeeded", "3.00")


@pytest.mark.django_db
def test_the_refund_succeeded_event_of_a_full_refund_shows_the_refund_counted(settings):
    """The same order of writes for a full refund: refund.succeeded's `data` says `paid`, with 0.00
    refunded, a state no reader of the API could ever see (both moves are in one transaction)."""
    settings.NOTIFY_ALLOW_PRIVATE_URLS = True
    endpoint_set(storefront_name="shop", url="http://127.0.0.1:9/events")
    checkout = make_checkout(storefront=NotificationEndpoint.objects.get().storefront, amount=Decimal("10.00"))
    attempt = make_attempt(checkout, psp_payment_id="pay_1")
    with transaction.atomic():
        locked_checkout, locked = lock_attempt(attempt.id)
        move_attempt(locked_checkout, locked, AttemptStatus.SUCCEEDED, CAUSE)
    with transaction.atomic():
        refund = refund_record(checkout=lock_checkout(checkout.id), amount=Decimal("10.00"), reason="", cause=CAUSE)
    refund_apply(refund_id=refund.id, answer=PspRefund(id="re_1", payment_id="pay_1", amount=Decimal("10.00"),
                                                       currency="EUR", status="succeeded"), cause=CAUSE)
    event = StorefrontEvent.objects.get(checkout=checkout, type="refund.succeeded")
    assert (event.body["data"]["status"], event.body["data"]["payment"]["refunded_amount"]) == ("refunded", "10.00")


# --- 8. Disabling: an endpoint that fails for days is never disabled if no new event comes ----
@pytest.mark.django_db
def test_an_endpoint_failing_for_three_days_is_disabled_even_without_a_new_event(receiver, settings):
    """The issue: "Endpoints failing for 3 days are disabled and shown". Disabling is decided only
    when a delivery fails: an endpoint whose last event was given up after ~28 h is still "failing",
    never disabled, however long it stays down, until the shop's next order; then a single failed
    try disables it at once (even if it came back meanwhile and only that try failed)."""
    import time_machine

    from payments.notifications import RETRY_DELAYS

    endpoint_set(storefront_name="shop", url="http://127.0.0.1:9/events")  # nothing listens there
    _paid_event()
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        for pk, claim in events_claim_due(limit=50):
            event_deliver(event_pk=pk, claim=claim)
        for delay in RETRY_DELAYS:
            start += delay
            clock.move_to(start)
            for pk, claim in events_claim_due(limit=50):
                event_deliver(event_pk=pk, claim=claim)
        clock.move_to(timezone.now() + timedelta(days=5))
        for pk, claim in events_claim_due(limit=50):  # the beat goes on sweeping
            event_deliver(event_pk=pk, claim=claim)
    endpoint = NotificationEndpoint.objects.get()
    assert endpoint.failing_since is not None
    assert endpoint.disabled_at is not None, "failing for 6 days and still enabled"


# --- 9. One storefront's backlog stops every other storefront's deliveries ---------------------
@pytest.mark.django_db
def test_a_down_storefronts_backlog_does_not_keep_another_storefronts_due_event_waiting(receiver):
    """The issue: "A storefront that is down does not slow the others". The sweep reads only the
    `limit * 4` oldest due rows and then keeps one per endpoint: a shop with a backlog of more than
    200 due events (it was down, or disabled and enabled again) fills that window, so each sweep
    claims one of its events and nothing of anyone else. A failed event comes back 5 s later, so the
    other shops wait until every event of the backlog has been tried once: 1,000 events ≈ 33 min."""
    from payments.tests.factories import make_event

    endpoint_set(storefront_name="down", url="http://127.0.0.1:9/events")  # refuses connections
    endpoint_set(storefront_name="healthy", url=receiver.url)
    down = NotificationEndpoint.objects.get(storefront__name="down").storefront
    past = timezone.now() - timedelta(minutes=5)
    for _ in range(201):
        make_event(down, make_checkout(storefront=down), next_attempt_at=past)
    healthy_event = _paid_event("healthy")
    claimed = [pk for pk, _claim in events_claim_due(limit=50)]
    assert healthy_event.pk in claimed, "the healthy storefront's due event was not claimed by the sweep"
