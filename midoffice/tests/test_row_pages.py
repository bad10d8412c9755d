"""Every mid-office row page opens, and writes its moments in the one format of the mid-office."""

import re

import pytest

from midoffice.tests.factories import OPERATOR, make_staff
from midoffice.tests.test_query_counts import populate
from payments.models import PspCall, Refund, StaffAction, StatusChange, StorefrontEvent
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db

ONE_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
DJANGO_DEFAULT = re.compile(r"\b[ap]\.m\.")  # "Nov. 30, 2026, 5:07 a.m."


def _row_urls(checkout):
    attempt = checkout.attempts.get()
    return [
        f"/admin/checkout/checkout/{checkout.id}/change/",
        f"/admin/payments/paymentattempt/{attempt.id}/change/",
        f"/admin/payments/refund/{Refund.objects.get(checkout=checkout).id}/change/",
        f"/admin/payments/statuschange/{StatusChange.objects.filter(checkout=checkout).first().id}/change/",
        f"/admin/payments/pspcall/{PspCall.objects.get(checkout_id=checkout.id).id}/change/",
        f"/admin/payments/staffaction/{StaffAction.objects.get(checkout=checkout).id}/change/",
        f"/admin/webhooks/webhookevent/{WebhookEvent.objects.get(checkout=checkout).pk}/change/",
        f"/admin/payments/storefrontevent/{StorefrontEvent.objects.get(checkout=checkout).pk}/change/",
        f"/admin/checkout/storefront/{checkout.storefront_id}/change/",
    ]


def test_each_row_page_opens_and_writes_every_moment_in_the_one_format(client):
    # given one checkout with a row of every kind
    client.force_login(make_staff(OPERATOR))
    (checkout,) = populate(1)
    for url in _row_urls(checkout):
        # when staff open its page
        response = client.get(url)
        page = response.content.decode()
        # then it opens, and its moments read 2026-11-30 05:07:54, never Django's "5:07 a.m."
        assert response.status_code == 200, url
        assert ONE_FORMAT.search(page), url
        assert not DJANGO_DEFAULT.search(page), url


@pytest.mark.parametrize("url", [
    "/admin/checkout/checkout/", "/admin/payments/paymentattempt/", "/admin/payments/refund/",
    "/admin/payments/statuschange/", "/admin/payments/pspcall/", "/admin/payments/staffaction/",
    "/admin/webhooks/webhookevent/", "/admin/payments/storefrontevent/", "/admin/checkout/storefront/",
])
def test_each_list_writes_its_moments_in_the_one_format_and_short_ids(client, url):
    client.force_login(make_staff(OPERATOR))
    (checkout,) = populate(1)
    page = client.get(url).content.decode()
    assert ONE_FORMAT.search(page) and not DJANGO_DEFAULT.search(page)
    # a checkout's whole id is only ever in a title or a link, never a cell's text
    assert f">{checkout.id}<" not in page
