"""What staff read about storefront notifications: the storefront's endpoint (never its secret),
the delivery log and an event's page, and the dashboard's failing endpoints and given-up events."""

from datetime import timedelta

import pytest
from django.utils import timezone

from checkout.tests.factories import make_checkout, make_storefront
from midoffice.tests.factories import OPERATOR, VIEWER, make_staff
from payments.tests.factories import make_endpoint, make_event

pytestmark = pytest.mark.django_db

LOG = "/admin/payments/storefrontevent/"


def storefront_page(client, storefront):
    response = client.get(f"/admin/checkout/storefront/{storefront.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("group", [VIEWER, OPERATOR])
def test_the_storefront_page_shows_its_endpoint_and_the_secrets_age_but_never_a_secret(client, group):
    # given a storefront whose secret was rotated 12 days ago, the previous one still signing
    shop = make_storefront("mug-shop")
    made = timezone.now() - timedelta(days=12, hours=3)
    endpoint = make_endpoint(shop, url="https://mugs.example/paysite-events", secret_created_at=made,
                             previous_secret="whsec_previousprevious", previous_secret_until=timezone.now()
                             + timedelta(hours=5))
    make_event(shop, make_checkout(storefront=shop), delivery="given_up")
    make_event(shop)
    client.force_login(make_staff(group))
    # when staff open the storefront's page
    page = storefront_page(client, shop)
    # then they read where its events go, that it is enabled, and how old its secret is
    assert "https://mugs.example/paysite-events" in page and ">enabled<" in page
    assert "12 days old" in page and "the previous one signs beside it until" in page
    assert "1 to deliver" in page and "1 given up" in page
    assert f'{LOG}?storefront={shop.pk}"' in page  # the delivery log, filtered to this storefront
    # and never the secret, nor the previous one
    assert endpoint.secret not in page and "whsec_previousprevious" not in page and "whsec_" not in page
    # and only operators are offered the test event
    assert ("Send a test event" in page) == (group == OPERATOR)
    assert "notifications-disabled" not in page


def test_a_storefront_without_an_endpoint_says_how_to_set_one(client, operator):
    shop = make_storefront("no-url")
    page = storefront_page(client, shop)
    assert 'id="no-endpoint"' in page and "manage.py storefront_webhook no-url URL" in page
    assert "Send a test event" not in page and "Delivery log" not in page


@pytest.mark.parametrize("group", [VIEWER, OPERATOR])
def test_a_disabled_endpoint_is_shown_with_a_banner_and_what_waits(client, group):
    shop = make_storefront("down-shop")
    failing_since = timezone.now() - timedelta(days=3, hours=1)
    make_endpoint(shop, failing_since=failing_since, disabled_at=timezone.now() - timedelta(hours=1))
    for _ in range(2):
        make_event(shop, make_checkout(storefront=shop))
    make_event(shop, make_checkout(storefront=shop), delivery="given_up")
    client.force_login(make_staff(group))
    page = storefront_page(client, shop)
    assert 'id="notifications-disabled"' in page and ">disabled<" in page
    assert "2 events to deliver</a> will go out once notifications are enabled again" in page
    assert "1 given up</a> only when sent again" in page
    assert ("Enable again" in page) == (group == OPERATOR)
    assert "Send a test event" not in page  # refused while disabled: it would only wait


def test_the_storefront_list_says_which_endpoints_fail(client, operator):
    make_endpoint(make_storefront("fine"))
    make_endpoint(make_storefront("flaky"), failing_since=timezone.now())
    make_endpoint(make_storefront("down"), failing_since=timezone.now(), disabled_at=timezone.now())
    make_storefront("quiet")
    page = client.get("/admin/checkout/storefront/").content.decode()
    assert page.count(">enabled<") == 1 and page.count(">failing<") == 1 and page.count(">disabled<") == 1


def test_the_delivery_log_lists_each_event_with_its_last_answer_and_next_try(client, operator):
    shop = make_storefront("mug-shop")
    make_endpoint(shop)
    checkout = make_checkout(storefront=shop, reference="order-1042")
    next_try = timezone.now() + timedelta(minutes=5)
    failing = make_event(shop, checkout, attempts=2, last_attempt_at=timezone.now(), last_status_code=503,
                         last_answer="oops, try later", next_attempt_at=next_try)
    refused = make_event(shop, checkout, type="checkout.refunded", attempts=1, last_attempt_at=timezone.now(),
                         last_error="ConnectionError: connection refused")
    page = client.get(LOG).content.decode()
    assert failing.public_id in page and "checkout.paid" in page and refused.public_id in page
    assert "order-1042" in page and f"/admin/checkout/checkout/{checkout.id}/change/" in page
    assert "503" in page and "oops, try later" in page
    assert "no answer" in page and "ConnectionError: connection refused" in page
    assert timezone.localtime(next_try).strftime("%Y-%m-%d %H:%M:%S") in page
    assert "the delivery log" in page


def test_the_delivery_log_filters_by_storefront_and_delivery_and_finds_by_event_or_checkout(client, operator):
    mugs, pens = make_storefront("mugs"), make_storefront("pens")
    make_endpoint(mugs)
    mug_checkout = make_checkout(storefront=mugs, reference="mug-7")
    given_up = make_event(mugs, mug_checkout, delivery="given_up")
    delivered = make_event(mugs, mug_checkout, type="checkout.refunded", delivery="delivered")
    kept = make_event(pens, make_checkout(storefront=pens), delivery="no_endpoint")
    everything = {given_up.public_id, delivered.public_id, kept.public_id}

    def found(query):
        page = client.get(f"{LOG}?{query}").content.decode()
        return {public_id for public_id in everything if public_id in page}

    assert found(f"storefront={mugs.pk}") == {given_up.public_id, delivered.public_id}
    assert found("delivery=given_up") == {given_up.public_id}
    assert found(f"storefront={pens.pk}&delivery=no_endpoint") == {kept.public_id}
    assert found("type=checkout.refunded") == {delivered.public_id}
    assert found(f"q={given_up.public_id}") == {given_up.public_id}
    assert found(f"q={mug_checkout.id}") == {given_up.public_id, delivered.public_id}
    assert found("q=mug-") == {given_up.public_id, delivered.public_id}
    assert found("q=evt_unknown") == set()


def test_an_events_page_shows_its_body_with_the_token_masked_and_the_last_answer(client, operator):
    shop = make_storefront("mug-shop")
    make_endpoint(shop)
    checkout = make_checkout(storefront=shop, psp_token="tok_secretsecretsecret1234")
    event = make_event(shop, checkout, attempts=3, last_attempt_at=timezone.now(), last_status_code=500,
                       last_answer="<h1>Internal Server Error</h1>")
    page = client.get(f"{LOG}{event.pk}/change/").content.decode()
    assert event.public_id in page and f"&quot;id&quot;: &quot;{checkout.id}&quot;" in page  # the body, as JSON
    assert "tok_secretsecretsecret1234" not in page and "…1234" in page
    assert "&lt;h1&gt;Internal Server Error&lt;/h1&gt;" in page  # the answer's excerpt, escaped
    assert "Send again" in page and "Checkout and timeline" in page


def test_a_viewer_reads_the_log_but_is_offered_no_send_again(client):
    shop = make_storefront("mug-shop")
    make_endpoint(shop)
    event = make_event(shop, make_checkout(storefront=shop), delivery="given_up")
    client.force_login(make_staff(VIEWER))
    assert "send_again" not in client.get(LOG).content.decode()
    assert "Send again" not in client.get(f"{LOG}{event.pk}/change/").content.decode()


# --- the dashboard --------------------------------------------------------------------------------

@pytest.mark.parametrize("group", [VIEWER, OPERATOR])
def test_the_dashboard_lists_the_failing_and_disabled_endpoints_and_counts_the_events_given_up(client, group):
    # given one endpoint that answers, one failing for an hour, and one disabled after three days
    now = timezone.now()
    make_endpoint(make_storefront("fine"))
    flaky = make_storefront("flaky-shop")
    make_endpoint(flaky, url="https://flaky.example/events", failing_since=now - timedelta(hours=1))
    down = make_storefront("down-shop")
    make_endpoint(down, url="https://down.example/events", failing_since=now - timedelta(days=3, hours=2),
                  disabled_at=now - timedelta(hours=2))
    for _ in range(3):
        make_event(down, make_checkout(storefront=down), delivery="given_up")
    make_event(down, make_checkout(storefront=down))  # waits for the endpoint to be enabled again
    make_event(flaky, make_checkout(storefront=flaky), delivery="given_up")
    client.force_login(make_staff(group))
    # when staff open the dashboard
    page = client.get("/admin/").content.decode()
    panel = page[page.index('id="notification-health"'):]
    # then the failing and disabled endpoints are listed, the disabled one first, and the given-up events counted
    assert 'id="events-given-up">4<' in panel
    assert f'{LOG}?delivery=given_up"' in panel
    assert panel.index("down-shop") < panel.index("flaky-shop") and "fine" not in panel.split("</section>")[0]
    assert "https://down.example/events" in panel and ">disabled<" in panel
    assert f"{LOG}?storefront={down.pk}&amp;delivery=pending\">1<" in panel
    assert f"/admin/checkout/storefront/{down.pk}/change/" in panel
    assert ("send them again" in panel) == (group == OPERATOR)


def test_the_dashboard_says_so_when_every_endpoint_answers(client, operator):
    make_endpoint(make_storefront("fine"))
    page = client.get("/admin/").content.decode()
    assert "Every storefront's endpoint answers." in page and 'id="events-given-up">0<' in page
