"""Every mid-office page costs a fixed number of queries, whatever the number of rows: pinned
here so that a regression (an N+1, a COUNT(*) or a DISTINCT come back) fails."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from checkout.tests.factories import make_checkout, make_storefront
from midoffice.tests.factories import OPERATOR, make_staff
from payments.models import NotificationEndpoint, PspCall, Refund, StaffAction, StatusChange
from payments.states import AttemptStatus, CheckoutStatus
from payments.tests.factories import make_attempt, make_endpoint, make_event
from payments.transitions import Cause, record_creation
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db


def populate(n):
    """n paid checkouts, each with an attempt, a refund, status changes, a PSP call, a webhook and a
    storefront event given up; and n storefronts whose endpoints fail (every other one disabled)."""
    user = make_staff(OPERATOR)
    checkouts = []
    now = timezone.now()
    if not NotificationEndpoint.objects.filter(storefront=make_storefront()).exists():
        make_endpoint(make_storefront())
    for index in range(n):
        checkout = make_checkout(status=CheckoutStatus.PAID)
        attempt = make_attempt(checkout, status=AttemptStatus.SUCCEEDED, psp_payment_id=f"pay_{checkout.id.hex}")
        refund = Refund.objects.create(checkout=checkout, attempt=attempt, amount="1.00", currency="EUR",
                                       idempotency_key=f"k{checkout.id}", requested_by=user)
        record_creation(checkout, Cause(kind="api"))
        record_creation(checkout, Cause(kind="staff", actor_id=user.id), attempt=attempt)
        PspCall.objects.create(method="GET", path="/v1/payments/x", status_code=200, duration_ms=5,
                               checkout_id=checkout.id, cause="poll", response_body={"token": "tok_abcdefghij"})
        WebhookEvent.objects.create(event_id=f"evt_{index}_{checkout.id.hex[:6]}", type="payment.succeeded",
                                    headers={}, body=json.dumps({"data": {"token": "tok_abcdefghijk"}}),
                                    psp_object_id=attempt.psp_payment_id, checkout=checkout)
        StaffAction.objects.create(actor=user, action="ask_psp", checkout=checkout, attempt=attempt, refund=refund,
                                   outcome="still succeeded")
        make_event(checkout.storefront, checkout, delivery="given_up", attempts=8, next_attempt_at=None,
                   last_attempt_at=now, last_status_code=503, last_answer="oops, try later")
        failing = make_storefront(f"shop-{checkout.id.hex[:8]}")
        make_endpoint(failing, failing_since=now, disabled_at=now if index % 2 else None)
        make_event(failing, last_attempt_at=now, last_error="ConnectionError: refused")
        checkouts.append(checkout)
    return checkouts


# Lists filtered by storefront pay one query for the filter's choices (the storefronts).
PAGES = {
    "/admin/": 18,  # with the refunds in review (count and oldest), and the failing endpoints (count, rows, given up)
    "/admin/checkout/checkout/": 7,
    "/admin/payments/paymentattempt/": 7,
    "/admin/payments/refund/": 6,
    "/admin/payments/statuschange/": 6,
    "/admin/payments/pspcall/": 6,
    "/admin/payments/staffaction/": 6,
    "/admin/webhooks/webhookevent/": 6,
    "/admin/payments/paymentattempt/?status=succeeded&currency=EUR": 7,
    "/admin/checkout/checkout/?q=order-": 7,
    "/admin/payments/paymentattempt/?q=order-": 7,
    "/admin/payments/storefrontevent/": 7,
    "/admin/payments/storefrontevent/?delivery=given_up": 7,
    "/admin/payments/storefrontevent/?q=order-": 7,
    "/admin/checkout/storefront/": 7,
}


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize(("url", "expected"), PAGES.items())
def test_each_list_page_costs_the_same_few_queries_with_3_or_30_rows(client, url, expected):
    client.force_login(make_staff(OPERATOR))
    populate(3)
    assert count_queries(client, url) == expected
    populate(27)
    assert count_queries(client, url) == expected


def test_the_checkout_page_with_its_timeline_costs_a_fixed_number_of_queries(client, django_assert_num_queries):
    client.force_login(make_staff(OPERATOR))
    (checkout,) = populate(1)
    client.get(f"/admin/checkout/checkout/{checkout.id}/change/")  # warms Django's content-type cache
    with django_assert_num_queries(16):
        page = client.get(f"/admin/checkout/checkout/{checkout.id}/change/")
    assert "tok_abcdefghij" not in page.content.decode()  # bodies on the timeline are redacted
    attempt = checkout.attempts.get()
    for index in range(5):
        record_creation(checkout, Cause(kind="poll"))
        PspCall.objects.create(method="GET", path="/v1/payments/x", status_code=200, duration_ms=5,
                               checkout_id=checkout.id)
        Refund.objects.create(checkout=checkout, attempt=attempt, amount="1.00", currency="EUR",
                              idempotency_key=f"more-{index}", requested_by=make_staff())
        make_attempt(checkout, status=AttemptStatus.FAILED)
    with django_assert_num_queries(16):
        client.get(f"/admin/checkout/checkout/{checkout.id}/change/")
    assert StatusChange.objects.filter(checkout=checkout).count() == 7
