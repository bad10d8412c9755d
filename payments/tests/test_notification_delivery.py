"""Delivering storefront events to a real HTTP receiver (a server on a thread of the test): Standard
Webhooks signatures checked with the `standardwebhooks` library, the contract's retry schedule,
claims, one delivery in flight per endpoint, rotation, and the refusal of private addresses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from checkout.tests.factories import make_checkout
from payments.errors import DomainError
from payments.locks import lock_attempt
from payments.models import NotificationEndpoint, StorefrontEvent
from payments.notifications import (
    RETRY_DELAYS,
    endpoint_set,
    event_claim_next,
    event_deliver,
    events_claim_due,
    events_send_again,
)
from payments.states import AttemptStatus
from payments.tests.factories import make_attempt
from payments.transitions import Cause, move_attempt

pytestmark = pytest.mark.django_db


class Receiver:
    """A storefront's endpoint: answers with the next status of `answers` (then 200) and keeps every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", "/elsewhere")
                self.end_headers()
                self.wfile.write(b'{"ok": true}' if status < 300 else b"oops, try later")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def posts_to(self, path: str) -> int:
        return sum(1 for request_path, _headers, _body in self.requests if request_path == path)


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:  # type: ignore[no-untyped-def]
    settings.NOTIFY_ALLOW_PRIVATE_URLS = True  # the receiver is on loopback
    settings.NOTIFY_TIMEOUT = 2
    server = Receiver()
    yield server
    server.server.shutdown()


def _paid_event(storefront_name: str = "shop") -> StorefrontEvent:
    endpoint = NotificationEndpoint.objects.get(storefront__name=storefront_name)
    attempt = make_attempt(make_checkout(storefront=endpoint.storefront))
    with transaction.atomic():
        checkout, locked = lock_attempt(attempt.id)
        move_attempt(checkout, locked, AttemptStatus.SUCCEEDED, Cause(kind="system"))
    return StorefrontEvent.objects.get(checkout=checkout)


def _deliver_due() -> list[str]:
    return [event_deliver(event_pk=pk, claim=claim) for pk, claim in events_claim_due(limit=50)]


def test_an_event_arrives_signed_as_standard_webhooks_says_and_with_nothing_of_ours(receiver):
    endpoint = endpoint_set(storefront_name="shop", url=receiver.url)
    event = _paid_event()
    assert _deliver_due() == ["delivered"]
    (_path, headers, body), = receiver.requests
    payload = Webhook(endpoint.secret).verify(body, headers)  # the library the storefront would use
    assert payload == event.body and payload["type"] == "checkout.paid" and payload["sequence"] == 1
    assert headers["webhook-id"] == event.public_id
    assert not {"authorization", "cookie", "idempotency-key", "x-forwarded-for"} & set(headers)
    event.refresh_from_db()
    assert (event.delivery, event.attempts, event.last_status_code) == ("delivered", 1, 200)


def test_a_receiver_that_fails_three_times_gets_the_event_four_times_on_the_schedule_and_then_no_more(receiver):
    endpoint_set(storefront_name="shop", url=receiver.url)
    receiver.answers = [500, 500, 500]
    event = _paid_event()
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        assert _deliver_due() == ["pending"]
        for delay in RETRY_DELAYS[:3]:
            clock.move_to(start + delay - timedelta(seconds=1))
            assert _deliver_due() == []  # not due yet
            start += delay
            clock.move_to(start)
            _deliver_due()
        clock.move_to(start + timedelta(days=2))
        assert _deliver_due() == []
    event.refresh_from_db()
    assert (receiver.posts_to("/events"), event.delivery, event.attempts) == (4, "delivered", 4)
    assert len({headers["webhook-signature"] for _p, headers, _b in receiver.requests}) == 4  # signed anew each time
    assert len({headers["webhook-id"] for _p, headers, _b in receiver.requests}) == 1  # one event


def test_an_event_no_try_delivers_is_given_up_after_the_last_retry_and_the_endpoint_disabled_after_three_days(
    receiver,
):
    endpoint_set(storefront_name="shop", url=receiver.url)
    receiver.answers = [503] * 20
    event = _paid_event()
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        _deliver_due()
        for delay in RETRY_DELAYS:
            start += delay
            clock.move_to(start)
            _deliver_due()
        event.refresh_from_db()
        assert (event.delivery, event.attempts, event.last_status_code) == ("given_up", 8, 503)
        assert event.last_answer == "oops, try later"
        endpoint = NotificationEndpoint.objects.get()
        assert endpoint.disabled_at is None  # 32 h 35 min of failures: not three days yet
        clock.move_to(start + timedelta(days=2))
        later = _paid_event()
        _deliver_due()  # fails, three days after the first failure: the endpoint is disabled
        endpoint.refresh_from_db()
        assert endpoint.disabled_at is not None
        clock.move_to(start + timedelta(days=2, hours=1))
        assert _deliver_due() == []  # a disabled endpoint gets nothing…
        later.refresh_from_db()
        assert later.delivery == "pending"  # …and loses nothing: its events wait
        receiver.answers = []
        endpoint_set(storefront_name="shop", url=receiver.url)  # staff point it again: enabled
        assert events_send_again(event_pks=[event.pk]) == 1
        assert (_deliver_due(), _deliver_due()) == (["delivered"], ["delivered"])  # one in flight at a time


def test_one_endpoint_has_one_delivery_in_flight_and_a_stale_claim_delivers_nothing(receiver):
    endpoint_set(storefront_name="shop", url=receiver.url)
    endpoint_set(storefront_name="other", url=receiver.url.replace("/events", "/other"))
    first, second = _paid_event(), _paid_event()
    third = _paid_event("other")
    claims = events_claim_due(limit=50)
    assert sorted(pk for pk, _claim in claims) == sorted([first.pk, third.pk])  # one per endpoint, oldest first
    assert events_claim_due(limit=50) == []  # both endpoints busy
    stale = [(pk, claim - 1) for pk, claim in claims]
    assert [event_deliver(event_pk=pk, claim=claim) for pk, claim in stale] == ["not claimed", "not claimed"]
    assert [event_deliver(event_pk=pk, claim=claim) for pk, claim in claims] == ["delivered", "delivered"]
    assert [event_deliver(event_pk=pk, claim=claim) for pk, claim in claims] == ["not claimed", "not claimed"]
    assert _deliver_due() == ["delivered"]
    second.refresh_from_db()
    assert second.delivery == "delivered"
    assert (receiver.posts_to("/events"), receiver.posts_to("/other")) == (2, 1)


def test_a_worker_that_died_mid_delivery_leaves_the_event_to_be_claimed_again_after_its_lease(receiver):
    endpoint_set(storefront_name="shop", url=receiver.url)
    event = _paid_event()
    (pk, _claim), = events_claim_due(limit=50)  # claimed, then the worker is killed: nothing recorded
    with time_machine.travel(timezone.now() + timedelta(seconds=26)):
        assert _deliver_due() == ["delivered"]
    event.refresh_from_db()
    assert (event.pk, event.delivery, receiver.posts_to("/events")) == (pk, "delivered", 1)


def test_a_redirect_is_not_followed_and_counts_as_a_failure(receiver):
    endpoint_set(storefront_name="shop", url=receiver.url)
    receiver.answers = [302]
    event = _paid_event()
    assert _deliver_due() == ["pending"]
    event.refresh_from_db()
    assert (event.last_status_code, receiver.posts_to("/elsewhere")) == (302, 0)


def test_during_a_rotation_both_secrets_sign_for_24_hours(receiver):
    old = endpoint_set(storefront_name="shop", url=receiver.url).secret
    new = endpoint_set(storefront_name="shop", url=receiver.url, rotate=True).secret
    assert new != old
    _paid_event()
    _deliver_due()
    (_path, during, body), = receiver.requests
    assert len(during["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(body, during)
    with time_machine.travel(timezone.now() + timedelta(hours=24, seconds=1)):
        _paid_event()
        _deliver_due()
        _path, after, body = receiver.requests[1]
        assert len(after["webhook-signature"].split(" ")) == 1
        Webhook(new).verify(body, after)
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(body, after)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/events", "http://localhost/events", "http://10.1.2.3/events", "http://192.168.0.10/",
    "http://169.254.169.254/latest/meta-data/", "http://[::1]/events", "http://[fd00::1]/", "http://0.0.0.0/",
    "ftp://shop.example/events", "http://user:pass@93.184.215.14/",
])
def test_a_url_to_a_private_address_is_refused_unless_allowed(settings, url):
    settings.NOTIFY_ALLOW_PRIVATE_URLS = False
    with pytest.raises(DomainError) as refused:
        endpoint_set(storefront_name="shop", url=url)
    assert refused.value.code == "invalid_url"
    assert not NotificationEndpoint.objects.exists()


def test_a_public_address_is_taken_and_a_private_one_only_when_allowed(settings):
    settings.NOTIFY_ALLOW_PRIVATE_URLS = False
    assert endpoint_set(storefront_name="shop", url="http://93.184.215.14/events").url.startswith("http://93.")
    settings.NOTIFY_ALLOW_PRIVATE_URLS = True
    assert endpoint_set(storefront_name="shop", url="http://127.0.0.1:9/events").url == "http://127.0.0.1:9/events"


def test_an_endpoint_that_became_private_is_not_sent_to(receiver, settings):
    endpoint_set(storefront_name="shop", url=receiver.url)
    event = _paid_event()
    settings.NOTIFY_ALLOW_PRIVATE_URLS = False  # e.g. its host now resolves to a private address
    assert _deliver_due() == ["pending"]
    event.refresh_from_db()
    assert receiver.requests == [] and event.last_error.startswith("not sent:")
    assert json.dumps(event.body)  # still whole, for the next try


def test_after_a_delivery_the_endpoints_next_due_event_is_claimed_at_once(receiver):
    endpoint_set(storefront_name="shop", url=receiver.url)
    first, second = _paid_event(), _paid_event()
    (pk, claim), = events_claim_due(limit=50)
    assert event_claim_next(after_event_pk=pk) is None  # the first is still in flight
    assert event_deliver(event_pk=pk, claim=claim) == "delivered"
    following = event_claim_next(after_event_pk=pk)
    assert following is not None and following[0] == second.pk
    assert event_claim_next(after_event_pk=pk) is None  # claimed: in flight now
    assert event_deliver(event_pk=following[0], claim=following[1]) == "delivered"
    assert first.pk == pk
