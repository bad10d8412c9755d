"""The outbox of storefront notifications: one event per reported change, written in the change's
transaction (none for a rolled-back change), numbered per checkout, and listed by the API."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from checkout.models import Checkout
from checkout.tests.factories import make_api_key, make_checkout
from payments.locks import lock_attempt, lock_checkout, lock_refund
from payments.models import NotificationEndpoint, StorefrontEvent
from payments.notifications import endpoint_set
from payments.outbox import EVENT_TYPES
from payments.refunds import refund_record
from payments.states import AttemptStatus, CheckoutStatus, RefundStatus
from payments.tests.factories import make_attempt
from payments.transitions import Cause, follow_attempt, move_attempt, move_checkout, move_refund

pytestmark = pytest.mark.django_db

CAUSE = Cause(kind="system")


@pytest.fixture
def shop(settings):  # type: ignore[no-untyped-def]
    settings.NOTIFY_ALLOW_PRIVATE_URLS = True
    endpoint = endpoint_set(storefront_name="shop", url="http://127.0.0.1:9/events")
    return endpoint.storefront


def _move(attempt, status):  # type: ignore[no-untyped-def]
    with transaction.atomic():
        checkout, locked = lock_attempt(attempt.id)
        move_attempt(checkout, locked, status, CAUSE)
    return locked


def _types(checkout):  # type: ignore[no-untyped-def]
    return list(StorefrontEvent.objects.filter(checkout=checkout).order_by("sequence").values_list("type", "sequence"))


def _start_attempt(checkout):  # type: ignore[no-untyped-def]
    """A new live attempt, the checkout following it through the status writer, as Buy Now does."""
    attempt = make_attempt(checkout)
    Checkout.objects.filter(id=checkout.id).update(status=CheckoutStatus.OPEN)  # the factory's shortcut, undone
    with transaction.atomic():
        locked_checkout, locked = lock_attempt(attempt.id)
        follow_attempt(locked_checkout, locked, CAUSE)
    return attempt


def test_a_payment_that_fails_then_one_that_succeeds_makes_one_event_per_checkout_change(shop):
    checkout = make_checkout(storefront=shop)
    first = _start_attempt(checkout)
    _move(first, AttemptStatus.PENDING)  # the checkout stays processing: no event
    _move(first, AttemptStatus.FAILED)
    _move(_start_attempt(checkout), AttemptStatus.SUCCEEDED)
    assert _types(checkout) == [
        ("checkout.processing", 1), ("checkout.payment_failed", 2), ("checkout.processing", 3), ("checkout.paid", 4),
    ]


def test_every_status_of_the_contract_has_its_one_event_type(shop):
    checkout = make_checkout(storefront=shop)
    _move(_start_attempt(checkout), AttemptStatus.SUCCEEDED)
    with transaction.atomic():
        locked = lock_checkout(checkout.id)
        refunds = [refund_record(checkout=locked, amount=Decimal("1.00"), reason="", cause=CAUSE) for _ in range(2)]
    for refund, target in zip(refunds, (RefundStatus.SUCCEEDED, RefundStatus.FAILED), strict=True):
        with transaction.atomic():
            locked_checkout, _attempt, locked_refund = lock_refund(refund.id)
            move_refund(locked_checkout, locked_refund, target, CAUSE)
    with transaction.atomic():
        locked = lock_checkout(checkout.id)
        move_checkout(locked, CheckoutStatus.PARTIALLY_REFUNDED, CAUSE)
        move_checkout(locked, CheckoutStatus.REFUNDED, CAUSE)
    expiring = make_checkout(storefront=shop)
    with transaction.atomic():
        move_checkout(lock_checkout(expiring.id), CheckoutStatus.EXPIRED, CAUSE)
    failing = make_checkout(storefront=shop)
    _move(_start_attempt(failing), AttemptStatus.FAILED)
    assert set(StorefrontEvent.objects.values_list("type", flat=True)) == set(EVENT_TYPES)
    assert _types(expiring) == [("checkout.expired", 1)]
    assert _types(failing) == [("checkout.processing", 1), ("checkout.payment_failed", 2)]
    assert _types(checkout) == [
        ("checkout.processing", 1), ("checkout.paid", 2), ("refund.succeeded", 3), ("refund.failed", 4),
        ("checkout.partially_refunded", 5), ("checkout.refunded", 6),
    ]
    refund_event = StorefrontEvent.objects.get(type="refund.failed")
    assert refund_event.body["data"]["refund"]["id"] == str(refunds[1].id)


def test_a_change_that_rolls_back_leaves_no_event(shop):
    checkout = make_checkout(storefront=shop)
    attempt = make_attempt(checkout)
    written = []

    def change_then_fail() -> None:
        with transaction.atomic():
            locked_checkout, locked = lock_attempt(attempt.id)
            move_attempt(locked_checkout, locked, AttemptStatus.SUCCEEDED, CAUSE)
            written.append(StorefrontEvent.objects.filter(checkout=checkout).count())  # written with the change…
            raise RuntimeError("the transaction fails after the change")

    with pytest.raises(RuntimeError):
        change_then_fail()
    assert written == [1]
    assert StorefrontEvent.objects.filter(checkout=checkout).count() == 0  # …and gone with it
    checkout.refresh_from_db()
    assert (checkout.status, checkout.event_sequence) == (CheckoutStatus.PROCESSING, 0)


def test_the_event_carries_the_checkout_object_of_the_api(shop, client):
    checkout = make_checkout(storefront=shop)
    attempt = make_attempt(checkout)
    _move(attempt, AttemptStatus.SUCCEEDED)
    event = StorefrontEvent.objects.get(checkout=checkout)
    _record, key = make_api_key("shop")
    api = client.get(f"/api/checkouts/{checkout.id}/", HTTP_AUTHORIZATION=f"Bearer {key}").json()
    assert event.body["data"] == api  # one rendering for both
    assert (event.body["id"], event.body["type"], event.body["sequence"]) == (event.public_id, "checkout.paid", 1)
    assert (event.delivery, event.next_attempt_at is not None) == ("pending", True)


def test_a_storefront_without_an_endpoint_gets_events_for_the_api_only():
    checkout = make_checkout()
    _move(make_attempt(checkout), AttemptStatus.SUCCEEDED)
    event = StorefrontEvent.objects.get(checkout=checkout)
    assert (event.delivery, event.next_attempt_at) == ("no_endpoint", None)
    assert not NotificationEndpoint.objects.exists()


def test_the_api_lists_a_storefronts_own_events_oldest_first_after_an_id(shop, client):
    _record, key = make_api_key("shop")
    _other, other_key = make_api_key("other")
    checkouts = [make_checkout(storefront=shop) for _ in range(3)]
    for checkout in checkouts:
        _move(make_attempt(checkout), AttemptStatus.SUCCEEDED)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    with time_machine.travel(timezone.now() + timedelta(seconds=5)):
        everything = client.get("/api/events/", **auth).json()
        after_first = client.get(f"/api/events/?after={everything['data'][0]['id']}", **auth).json()
        theirs = client.get("/api/events/", HTTP_AUTHORIZATION=f"Bearer {other_key}").json()
        foreign = client.get(f"/api/events/?after={everything['data'][0]['id']}",
                             HTTP_AUTHORIZATION=f"Bearer {other_key}")
        malformed = client.get("/api/events/?after=evt_%00", **auth)
    assert [e["data"]["id"] for e in everything["data"]] == [str(c.id) for c in checkouts]
    assert everything["has_more"] is False
    assert [e["id"] for e in after_first["data"]] == [e["id"] for e in everything["data"][1:]]
    assert theirs == {"data": [], "has_more": False}
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "not_found"
    assert malformed.status_code == 400 and malformed.json()["error"]["fields"] == {"after": ["Not an event id."]}


def test_the_api_pages_by_a_hundred(shop, client):
    _record, key = make_api_key("shop")
    for _ in range(101):
        _move(make_attempt(make_checkout(storefront=shop)), AttemptStatus.SUCCEEDED)
    with time_machine.travel(timezone.now() + timedelta(seconds=5)):
        first = client.get("/api/events/", HTTP_AUTHORIZATION=f"Bearer {key}").json()
        rest = client.get(f"/api/events/?after={first['data'][-1]['id']}", HTTP_AUTHORIZATION=f"Bearer {key}").json()
    assert (len(first["data"]), first["has_more"], len(rest["data"]), rest["has_more"]) == (100, True, 1, False)
    assert json.dumps(first).count("checkout.paid") == 100
