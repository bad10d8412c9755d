"""`manage.py create_api_key NAME`, hashed storage, storefronts with several keys, and revocation by staff."""

import hashlib
from io import StringIO

import pytest
from django.core.management import call_command

from checkout.models import ApiKey, Storefront
from checkout.tests.factories import make_checkout

pytestmark = pytest.mark.django_db


def _create(name):
    out = StringIO()
    call_command("create_api_key", name, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def test_the_key_is_printed_once_on_the_last_line_and_only_its_hash_is_stored(client):
    key = _create("storefront")
    stored = ApiKey.objects.get(name="storefront")
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in str(list(ApiKey.objects.values()))
    response = client.get("/api/checkouts/6f1c0000-0000-4000-8000-000000000000/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 404  # authenticated: the checkout just does not exist


def test_a_second_key_for_a_storefront_extends_it_and_both_keys_see_its_checkouts(client):
    # given a storefront with a key and a checkout
    first = _create("shop-a")
    checkout = make_checkout(storefront=Storefront.objects.get(name="shop-a"))
    # when the same name is given again
    second = _create("shop-a")
    # then it is one storefront with two live keys, and both keys read its checkout
    assert first != second
    assert Storefront.objects.filter(name="shop-a").count() == 1
    assert ApiKey.objects.filter(storefront__name="shop-a", revoked_at__isnull=True).count() == 2
    for key in (first, second):
        response = client.get(f"/api/checkouts/{checkout.id}/", HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code == 200
        assert response.json()["id"] == str(checkout.id)


def test_staff_revoke_a_key_in_admin_and_it_stops_working(client, admin_client):
    key = _create("storefront")
    api_key = ApiKey.objects.get()
    response = admin_client.post("/admin/checkout/apikey/", {"action": "revoke", "_selected_action": [api_key.pk]})
    assert response.status_code == 302
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    response = client.get("/api/checkouts/6f1c0000-0000-4000-8000-000000000000/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 401
