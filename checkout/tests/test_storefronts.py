"""A checkout belongs to the storefront whose key created it: to every other storefront it does
not exist (404), for reading, refunding and anything else; staff see and filter by storefront."""

import json

import pytest
from rest_framework.test import APIClient

from checkout.tests.factories import make_api_key, make_checkout, make_storefront
from payments.models import Refund
from payments.states import AttemptStatus, CheckoutStatus
from payments.tests.factories import make_attempt

pytestmark = pytest.mark.django_db
UNKNOWN = "6f1c0000-0000-4000-8000-000000000000"


def _client_of(storefront_name):
    _record, key = make_api_key(storefront_name)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def paid_of_shop_a():
    checkout = make_checkout(storefront=make_storefront("shop-a"), status=CheckoutStatus.PAID)
    make_attempt(checkout, status=AttemptStatus.SUCCEEDED, psp_payment_id="pay_1", psp_version=1)
    return checkout


def test_another_storefronts_checkout_reads_exactly_as_a_missing_one(paid_of_shop_a):
    # given shop B's key
    shop_b = _client_of("shop-b")
    # when it reads shop A's checkout, and a checkout that does not exist
    theirs = shop_b.get(f"/api/checkouts/{paid_of_shop_a.id}/")
    missing = shop_b.get(f"/api/checkouts/{UNKNOWN}/")
    # then both are the same 404, with nothing of A's checkout in it
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    assert paid_of_shop_a.psp_token not in theirs.content.decode()
    # while shop A reads its own
    assert _client_of("shop-a").get(f"/api/checkouts/{paid_of_shop_a.id}/").status_code == 200


def test_another_storefront_cannot_refund_a_checkout(paid_of_shop_a, psp_stub):
    # when shop B asks to refund shop A's paid checkout, with or without an Idempotency-Key
    shop_b = _client_of("shop-b")
    body = json.dumps({"amount": "5.00", "reason": "x"})
    url = f"/api/checkouts/{paid_of_shop_a.id}/refunds/"
    plain = shop_b.post(url, data=body, content_type="application/json")
    keyed = shop_b.post(url, data=body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="r1")
    # then it is not found, no refund exists and the PSP heard nothing
    assert (plain.status_code, keyed.status_code) == (404, 404)
    assert plain.json()["error"]["code"] == "not_found"
    assert Refund.objects.count() == 0
    assert len(psp_stub.calls) == 0


def test_a_storefront_that_used_a_key_on_a_foreign_checkout_keeps_its_own_answer(paid_of_shop_a, psp_stub):
    # given shop B was refused a refund under key "r1"
    body = json.dumps({"amount": "5.00", "reason": "x"})
    _client_of("shop-b").post(f"/api/checkouts/{paid_of_shop_a.id}/refunds/", data=body,
                              content_type="application/json", HTTP_IDEMPOTENCY_KEY="r1")
    # when shop A uses the same key for a refund of its own checkout
    psp_stub.post("http://psp.test/v1/payments/pay_1/refunds", status=201, json={
        "id": "re_1", "payment_id": "pay_1", "amount": "5.00", "currency": "EUR", "status": "pending",
        "reason": "x", "created_at": "2026-11-23T10:15:00Z", "updated_at": "2026-11-23T10:15:00Z"})
    response = _client_of("shop-a").post(f"/api/checkouts/{paid_of_shop_a.id}/refunds/", data=body,
                                         content_type="application/json", HTTP_IDEMPOTENCY_KEY="r1")
    # then it runs (B's 404 is not replayed to A)
    assert response.status_code == 201
    assert Refund.objects.count() == 1


def test_staff_see_and_filter_checkouts_by_storefront(admin_client):
    # given a checkout of each of two storefronts
    mine = make_checkout(storefront=make_storefront("shop-a"), reference="order-a")
    make_checkout(storefront=make_storefront("shop-b"), reference="order-b")
    # when staff filter the list by shop A
    page = admin_client.get(f"/admin/checkout/checkout/?storefront={mine.storefront_id}").content.decode()
    # then only A's checkout is listed, with its storefront shown
    assert "order-a" in page and "order-b" not in page
    assert "shop-a" in page
    assert "shop-b" in admin_client.get("/admin/checkout/checkout/").content.decode()


@pytest.mark.parametrize("group", ["Payments viewer", "Payments operator"])
def test_staff_in_either_group_see_the_storefronts_list(client, group):
    from midoffice.tests.factories import make_staff

    make_storefront("shop-a")
    client.force_login(make_staff(group))
    page = client.get("/admin/checkout/storefront/")
    assert page.status_code == 200 and "shop-a" in page.content.decode()
