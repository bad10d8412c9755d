"""The demo shop at `/` as a storefront: its receiver verifies each notification with the
`standardwebhooks` library, applies the newest `sequence` only, and its page shows what it learnt.
Event bodies come from the real outbox (a status change of a demo checkout)."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.utils import timezone
from django.utils.html import strip_tags
from standardwebhooks.webhooks import Webhook

from checkout.demo_orders import demo_order_create
from checkout.models import DemoOrder
from checkout.services import DEMO_STOREFRONT, demo_storefront
from checkout.tests.factories import make_checkout
from payments.locks import lock_attempt
from payments.models import Checkout, NotificationEndpoint, StorefrontEvent
from payments.notifications import endpoint_set
from payments.states import AttemptStatus
from payments.tests.factories import PSP, make_attempt, session_json
from payments.transitions import Cause, move_attempt

pytestmark = pytest.mark.django_db

RECEIVER = "/demo/notifications/"


@pytest.fixture
def endpoint(settings) -> NotificationEndpoint:  # type: ignore[no-untyped-def]
    settings.NOTIFY_ALLOW_PRIVATE_URLS = True
    return endpoint_set(storefront_name=DEMO_STOREFRONT, url=f"{settings.SITE_URL}{RECEIVER}")


def _order() -> tuple[Checkout, DemoOrder]:
    checkout = make_checkout(storefront=demo_storefront(), reference="demo-mug-6f1c2a3b")
    return checkout, demo_order_create(checkout=checkout)


def _move(checkout: Checkout, status: str, **fields: object) -> StorefrontEvent:
    """A new attempt of the checkout reaching `status`; the event the outbox wrote for it."""
    attempt = make_attempt(checkout, **fields)
    with transaction.atomic():
        locked_checkout, locked = lock_attempt(attempt.id)
        move_attempt(locked_checkout, locked, status, Cause(kind="system"))
    return StorefrontEvent.objects.filter(checkout=checkout).order_by("-sequence").first()  # type: ignore[return-value]


def _deliver(event: StorefrontEvent, secret: str, **overrides: str) -> tuple[int, dict]:
    """POST the event as the BPS does: its body, signed per Standard Webhooks with `secret`, from
    a client of its own (no session, no CSRF token: the signature is the only proof)."""
    payload = json.dumps(event.body, separators=(",", ":"))
    now = timezone.now()
    body = overrides.pop("body", payload)
    headers = {"webhook-id": event.public_id, "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": Webhook(secret).sign(event.public_id, now, payload), **overrides}
    response = Client(enforce_csrf_checks=True).post(RECEIVER, data=body, content_type="application/json",
                                                     headers=headers)
    return response.status_code, response.json()


def _text(html: str) -> str:
    return " ".join(strip_tags(html).split())


def test_a_correctly_signed_paid_event_marks_the_order_paid(endpoint):
    # given a demo order and the checkout.paid event of its checkout
    checkout, order = _order()
    event = _move(checkout, AttemptStatus.SUCCEEDED)
    assert event.type == "checkout.paid"
    # when the BPS delivers it, signed with the demo storefront's secret
    status, answer = _deliver(event, endpoint.secret)
    # then the shop marks its order paid, with the event's sequence and the time it heard of it
    order.refresh_from_db()
    assert (status, answer) == (200, {"applied": True})
    assert (order.status, order.last_sequence) == ("paid", event.sequence)
    assert timezone.now() - order.notified_at < timedelta(seconds=5)


def _stale_timestamp() -> str:
    return str(int((timezone.now() - timedelta(minutes=6)).timestamp()))


@pytest.mark.parametrize("tamper", [
    pytest.param(lambda secret, event: {"secret": "whsec_" + "QUJD" * 11}, id="another secret"),
    pytest.param(lambda secret, event: {"body": json.dumps({**event.body, "type": "checkout.refunded"})},
                 id="a changed body"),
    pytest.param(lambda secret, event: {"webhook-signature": ""}, id="no signature"),
    pytest.param(lambda secret, event: {"webhook-signature": "v1,not-base64!"}, id="a malformed signature"),
    pytest.param(lambda secret, event: {"webhook-signature": "garbage"}, id="no version"),
    pytest.param(lambda secret, event: {"webhook-timestamp": _stale_timestamp()}, id="six minutes old"),
    pytest.param(lambda secret, event: {"webhook-id": "evt_another"}, id="another id"),
])
def test_a_delivery_that_does_not_verify_is_refused_with_400_and_changes_nothing(endpoint, tamper):
    checkout, order = _order()
    event = _move(checkout, AttemptStatus.SUCCEEDED)
    overrides = tamper(endpoint.secret, event)
    secret = overrides.pop("secret", endpoint.secret)
    status, answer = _deliver(event, secret, **overrides)
    assert status == 400 and "signature" in answer["error"]
    assert DemoOrder.objects.get(pk=order.pk).status == "awaiting_payment"
    assert DemoOrder.objects.get(pk=order.pk).last_sequence == 0


def test_an_older_event_arriving_late_or_a_repeat_changes_nothing(endpoint):
    # given a declined card (checkout.payment_failed, sequence 1), then a paid one (sequence 2)
    checkout, order = _order()
    failed = _move(checkout, AttemptStatus.FAILED, payment_method="pm_card_declined")
    checkout.refresh_from_db()
    paid = _move(checkout, AttemptStatus.SUCCEEDED)
    assert [(failed.type, failed.sequence), (paid.type, paid.sequence)] == [
        ("checkout.payment_failed", 1), ("checkout.paid", 2)]
    # when the newer arrives first, then the older one, then the newer again (at least once)
    assert _deliver(paid, endpoint.secret) == (200, {"applied": True})
    notified_at = DemoOrder.objects.get(pk=order.pk).notified_at
    assert _deliver(failed, endpoint.secret) == (200, {"applied": False})
    assert _deliver(paid, endpoint.secret) == (200, {"applied": False})
    # then the order stays paid, as of the first delivery of the newest event
    order.refresh_from_db()
    assert (order.status, order.last_sequence, order.notified_at) == ("paid", 2, notified_at)


def test_an_event_for_no_order_of_the_shop_is_acknowledged_and_ignored(endpoint):
    stranger = make_checkout(storefront=demo_storefront())  # started elsewhere: the shop has no order for it
    event = _move(stranger, AttemptStatus.SUCCEEDED)
    assert _deliver(event, endpoint.secret) == (200, {"applied": False})
    assert not DemoOrder.objects.exists()


def test_the_storefront_page_lists_the_shoppers_orders_with_what_the_notifications_said(client, endpoint, psp_stub):
    # given a shopper who bought a mug on `/`
    psp_stub.post(f"{PSP}/v1/sessions", json=session_json(token="tok_demo"), status=201)
    assert client.post("/", {"product": "mug"}).status_code == 303
    order = DemoOrder.objects.get()
    checkout = Checkout.objects.get(id=order.checkout_id)
    assert checkout.storefront.name == DEMO_STOREFRONT and order.reference == checkout.reference
    waiting = client.get("/").content.decode()
    assert f"order {order.reference}: awaiting payment (no notification yet)" in _text(waiting)
    assert 'http-equiv="refresh"' in waiting  # the page waits for news by itself
    # when the paid notification arrives
    _deliver(_move(checkout, AttemptStatus.SUCCEEDED), endpoint.secret)
    # then the page says so, with the time, and stops refreshing
    order.refresh_from_db()
    page = client.get("/").content.decode()
    assert f"order {order.reference}: paid (notified {order.notified_at:%H:%M:%S})" in _text(page)
    assert 'http-equiv="refresh"' not in page
    # and another shopper sees none of it
    assert order.reference not in Client().get("/").content.decode()


def test_demo_setup_points_the_demo_shops_notifications_at_its_receiver_and_keeps_the_secret(settings):
    settings.DEBUG = True
    settings.NOTIFY_ALLOW_PRIVATE_URLS = True
    settings.SITE_URL = "http://127.0.0.1:8100"
    call_command("demo_setup", stdout=io.StringIO())
    endpoint = NotificationEndpoint.objects.get(storefront__name=DEMO_STOREFRONT)
    assert endpoint.url == "http://127.0.0.1:8100/demo/notifications/"
    call_command("demo_setup", stdout=io.StringIO())  # every `make run` runs it
    assert NotificationEndpoint.objects.get(storefront__name=DEMO_STOREFRONT).secret == endpoint.secret
