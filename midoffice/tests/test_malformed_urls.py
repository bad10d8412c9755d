"""Whatever a staff or shopper URL holds in its id (not a UUID, far too long, out of range, a
path trick), the answer is a 4xx and nothing is written: never a 500, never a redirect home."""

import pytest
from django.contrib.auth.models import User

from checkout.models import Checkout
from checkout.tests.factories import make_checkout
from payments.models import PaymentAttempt, PspCall, StaffAction, StatusChange, StorefrontEvent
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db

BAD_IDS = ["not-a-uuid", "a" * 5000, "6f1c0000-0000-4000-8000-00000000000", "99999999999999999999999", "%00",
           "-1", "1e999999"]
STAFF_PATHS = [
    "/admin/payments/paymentattempt/{id}/change/", "/admin/payments/paymentattempt/{id}/ask-psp/",
    "/admin/payments/paymentattempt/{id}/resolve/", "/admin/payments/paymentattempt/{id}/history/",
    "/admin/payments/paymentattempt/{id}/delete/", "/admin/payments/refund/{id}/change/",
    "/admin/checkout/checkout/{id}/change/", "/admin/checkout/checkout/{id}/refund/",
    "/admin/webhooks/webhookevent/{id}/change/", "/admin/webhooks/webhookevent/{id}/reprocess/",
    "/admin/payments/pspcall/{id}/change/", "/admin/payments/statuschange/{id}/change/",
    "/admin/payments/staffaction/{id}/change/", "/admin/checkout/apikey/{id}/change/",
    "/admin/payments/storefrontevent/{id}/change/", "/admin/payments/storefrontevent/{id}/send-again/",
    "/admin/checkout/storefront/{id}/change/", "/admin/checkout/storefront/{id}/send-test-event/",
    "/admin/checkout/storefront/{id}/enable-notifications/",
]


def _superuser():
    return User.objects.create(username="root", is_staff=True, is_superuser=True)  # no password to hash


def _rows():
    return [model.objects.count() for model in (Checkout, PaymentAttempt, PspCall, StaffAction, StatusChange,
                                                  WebhookEvent, StorefrontEvent)]


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("path", STAFF_PATHS)
@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_a_malformed_id_in_a_staff_url_is_a_404_that_writes_nothing(client, path, bad_id, method):
    # given a superuser (every permission) and some data
    client.force_login(_superuser())
    client.raise_request_exception = False
    make_checkout()
    before = _rows()
    # when a URL names a record by an id that cannot be one
    response = getattr(client, method)(path.format(id=bad_id), follow=True)
    # then the answer is a 4xx (404, or 403/405 where the method or permission decides first)
    assert response.status_code in (403, 404, 405)
    assert _rows() == before


@pytest.mark.parametrize("path", ["/admin/checkout/checkout/../", "/admin/payments/paymentattempt/../../",
                                  "/admin/checkout/checkout/%2e%2e/change/"])
def test_a_path_trick_in_a_staff_url_is_a_4xx(client, path):
    client.force_login(_superuser())
    client.raise_request_exception = False
    assert client.get(path, follow=True).status_code == 404


@pytest.mark.parametrize("bad_id", BAD_IDS)
@pytest.mark.parametrize("path", ["/checkout/{id}/", "/checkout/{id}/buy-now/", "/checkout/{id}/return/",
                                  "/checkout/{id}/result/", "/api/checkouts/{id}/", "/api/checkouts/{id}/buy-now/",
                                  "/api/checkouts/{id}/refunds/"])
def test_a_malformed_id_in_a_shopper_or_api_url_is_a_404(client, path, bad_id):
    client.raise_request_exception = False
    before = _rows()
    for response in (client.get(path.format(id=bad_id)),
                     client.post(path.format(id=bad_id), data="{}", content_type="application/json")):
        assert response.status_code == 404
        if path.startswith("/api/"):
            assert set(response.json()["error"]) == {"code", "message", "fields"}
    assert _rows() == before
