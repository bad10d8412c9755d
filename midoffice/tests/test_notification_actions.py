"""What operators do about storefront notifications: send events again (one, or a selection),
send a test event, enable an endpoint disabled for failing. Each calls a service of
payments/staff.py and leaves a StaffAction; viewers may do none of it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from checkout.tests.factories import make_checkout, make_storefront
from midoffice.tests.factories import VIEWER, make_staff
from payments.models import NotificationEndpoint, StaffAction, StorefrontEvent
from payments.notifications import events_claim_due
from payments.tests.factories import make_endpoint, make_event

pytestmark = pytest.mark.django_db

LOG = "/admin/payments/storefrontevent/"


@pytest.fixture
def shop():
    storefront = make_storefront("mug-shop")
    make_endpoint(storefront, url="http://127.0.0.1:9/events")
    return storefront


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    settings.NOTIFY_ALLOW_PRIVATE_URLS = True  # the endpoints here are on loopback


def _given_up(storefront, **fields):
    values = {"delivery": "given_up", "attempts": 8, "next_attempt_at": None, "last_status_code": 503,
              "last_attempt_at": timezone.now()}
    return make_event(storefront, make_checkout(storefront=storefront), **{**values, **fields})


# --- send again -----------------------------------------------------------------------------------

def test_sending_a_selection_again_makes_each_due_now_with_a_fresh_run_and_records_each(client, operator, shop):
    # given an event given up, one delivered, and one of a storefront without an endpoint
    given_up = _given_up(shop)
    delivered = make_event(shop, make_checkout(storefront=shop), delivery="delivered", attempts=1,
                           next_attempt_at=None)
    elsewhere = _given_up(make_storefront("no-url"))
    # when an operator sends the three again from the delivery log
    response = client.post(LOG, {"action": "send_again",
                                 "_selected_action": [given_up.pk, delivered.pk, elsewhere.pk]}, follow=True)
    # then the two with an endpoint are due now, with a fresh run of retries
    text = response.content.decode()
    assert "2 event(s) will be sent again" in text and "1 not sent: their storefront has no notification URL" in text
    for event in (given_up, delivered):
        event.refresh_from_db()
        assert (event.delivery, event.attempts) == ("pending", 0)
        assert event.next_attempt_at <= timezone.now()
    elsewhere.refresh_from_db()
    assert (elsewhere.delivery, elsewhere.attempts) == ("given_up", 8)
    # and each is recorded, on its checkout's timeline, saying what had become of it
    actions = {action.storefront_event_id: action for action in StaffAction.objects.all()}
    assert set(actions) == {given_up.pk, delivered.pk}
    first = actions[given_up.pk]
    assert (first.actor, first.action, first.checkout_id, first.storefront_id) == (
        operator, "send_event_again", given_up.checkout_id, shop.pk)
    assert first.outcome == f"checkout.paid {given_up.public_id}: given up after 8 tries → due now"
    timeline = client.get(f"/admin/checkout/checkout/{given_up.checkout_id}/change/").content.decode()
    assert "Sent a storefront event again" in timeline and given_up.public_id in timeline
    # and the worker's next sweep claims one of them (one delivery in flight per endpoint)
    assert [pk for pk, _claim in events_claim_due(limit=10)] == [given_up.pk]


def test_sending_one_event_again_from_its_page(client, operator, shop):
    event = _given_up(shop)
    response = client.post(f"{LOG}{event.pk}/send-again/")
    assert response.status_code == 302 and response.url == f"{LOG}{event.pk}/change/"
    event.refresh_from_db()
    assert (event.delivery, event.attempts) == ("pending", 0)
    assert StaffAction.objects.get().storefront_event == event


def test_sending_again_to_a_disabled_endpoint_says_the_events_wait(client, operator, shop):
    NotificationEndpoint.objects.filter(storefront=shop).update(disabled_at=timezone.now(),
                                                                failing_since=timezone.now() - timedelta(days=3))
    event = _given_up(shop)
    response = client.post(f"{LOG}{event.pk}/send-again/", follow=True)
    assert "1 of them wait: their storefront&#x27;s notifications are disabled" in response.content.decode()
    assert StaffAction.objects.get().outcome.endswith("→ due when notifications are enabled again")
    assert events_claim_due(limit=10) == []  # nothing goes to a disabled endpoint


def test_a_selection_larger_than_the_cap_is_refused_whole(client, operator, shop, monkeypatch):
    monkeypatch.setattr("midoffice.admin.notifications.MAX_SEND_AGAIN", 2)
    events = [_given_up(shop) for _ in range(3)]
    response = client.post(LOG, {"action": "send_again", "_selected_action": [event.pk for event in events]},
                           follow=True)
    assert "Select at most 2 events at a time." in response.content.decode()
    assert set(StorefrontEvent.objects.values_list("delivery", flat=True)) == {"given_up"}
    assert not StaffAction.objects.exists()


def test_a_get_of_send_again_changes_nothing(client, operator, shop):
    event = _given_up(shop)
    assert client.get(f"{LOG}{event.pk}/send-again/").status_code == 405
    event.refresh_from_db()
    assert event.delivery == "given_up" and not StaffAction.objects.exists()


# --- send a test event ----------------------------------------------------------------------------

def test_an_operator_sends_a_test_event_which_is_due_now_and_recorded(client, operator, shop):
    response = client.post(f"/admin/checkout/storefront/{shop.pk}/send-test-event/", follow=True)
    event = StorefrontEvent.objects.get()
    assert (event.type, event.storefront, event.checkout, event.sequence, event.delivery) == (
        "test.ping", shop, None, 0, "pending")
    assert event.body["data"] == {"storefront": "mug-shop"}
    action = StaffAction.objects.get()
    assert (action.actor, action.action, action.storefront, action.storefront_event) == (
        operator, "send_test_event", shop, event)
    assert f"Sent a test event (test.ping {event.public_id} due now)" in response.content.decode()
    assert [pk for pk, _claim in events_claim_due(limit=10)] == [event.pk]


def test_a_test_event_is_refused_without_an_endpoint_or_with_a_disabled_one(client, operator, shop):
    no_url = make_storefront("no-url")
    response = client.post(f"/admin/checkout/storefront/{no_url.pk}/send-test-event/", follow=True)
    assert "This storefront has no notification endpoint." in response.content.decode()
    NotificationEndpoint.objects.filter(storefront=shop).update(disabled_at=timezone.now())
    response = client.post(f"/admin/checkout/storefront/{shop.pk}/send-test-event/", follow=True)
    assert "enable them again before sending a test event" in response.content.decode()
    assert not StorefrontEvent.objects.exists() and not StaffAction.objects.exists()


# --- enable again -----------------------------------------------------------------------------------

def test_enabling_a_disabled_endpoint_again_lets_its_waiting_events_go_and_is_recorded(client, operator, shop):
    # given an endpoint disabled after three days of failures, with an event waiting and one given up
    failing_since = timezone.now() - timedelta(days=3, hours=1)
    NotificationEndpoint.objects.filter(storefront=shop).update(failing_since=failing_since,
                                                                disabled_at=timezone.now() - timedelta(hours=1))
    waiting = make_event(shop, make_checkout(storefront=shop))
    given_up = _given_up(shop)
    assert events_claim_due(limit=10) == []
    # when an operator enables it again
    response = client.post(f"/admin/checkout/storefront/{shop.pk}/enable-notifications/", follow=True)
    # then it is enabled, its run of failures forgotten, its waiting event due and the given-up one left
    assert "Notifications enabled again" in response.content.decode()
    endpoint = NotificationEndpoint.objects.get(storefront=shop)
    assert (endpoint.disabled_at, endpoint.failing_since, endpoint.url) == (None, None, "http://127.0.0.1:9/events")
    assert [pk for pk, _claim in events_claim_due(limit=10)] == [waiting.pk]
    given_up.refresh_from_db()
    assert given_up.delivery == "given_up"
    # and it is recorded with when it had been disabled and failing since
    action = StaffAction.objects.get()
    assert (action.actor, action.action, action.storefront, action.note) == (
        operator, "enable_endpoint", shop, "http://127.0.0.1:9/events")
    since = timezone.localtime(failing_since).strftime("%Y-%m-%d %H:%M:%S")
    assert action.outcome.startswith("disabled since ") and f"failing since {since} → enabled" in action.outcome
    assert 'id="notifications-disabled"' not in response.content.decode()


def test_enabling_an_endpoint_whose_url_is_no_longer_allowed_is_refused(client, operator, shop, settings):
    NotificationEndpoint.objects.filter(storefront=shop).update(disabled_at=timezone.now())
    settings.NOTIFY_ALLOW_PRIVATE_URLS = False  # its loopback URL may no longer receive notifications
    response = client.post(f"/admin/checkout/storefront/{shop.pk}/enable-notifications/", follow=True)
    assert "not a public address" in response.content.decode()
    assert NotificationEndpoint.objects.get(storefront=shop).disabled_at is not None
    assert not StaffAction.objects.exists()


def test_enabling_an_endpoint_that_is_not_disabled_changes_and_records_nothing(client, operator, shop):
    failing_since = timezone.now() - timedelta(hours=2)
    NotificationEndpoint.objects.filter(storefront=shop).update(failing_since=failing_since)
    response = client.post(f"/admin/checkout/storefront/{shop.pk}/enable-notifications/", follow=True)
    assert "were not disabled" in response.content.decode()
    assert NotificationEndpoint.objects.get(storefront=shop).failing_since == failing_since
    assert not StaffAction.objects.exists()


# --- permissions ------------------------------------------------------------------------------------

def test_a_viewer_can_send_nothing_again_send_no_test_and_enable_nothing(client, shop):
    NotificationEndpoint.objects.filter(storefront=shop).update(disabled_at=timezone.now())
    event = _given_up(shop)
    client.force_login(make_staff(VIEWER))
    assert client.post(f"{LOG}{event.pk}/send-again/").status_code == 403
    assert client.post(f"/admin/checkout/storefront/{shop.pk}/send-test-event/").status_code == 403
    assert client.post(f"/admin/checkout/storefront/{shop.pk}/enable-notifications/").status_code == 403
    response = client.post(LOG, {"action": "send_again", "_selected_action": [event.pk]})
    assert response.status_code == 200  # Django shows the list again: no such action for this user
    event.refresh_from_db()
    assert (event.delivery, event.attempts) == ("given_up", 8)
    assert NotificationEndpoint.objects.get(storefront=shop).disabled_at is not None
    assert StorefrontEvent.objects.count() == 1 and not StaffAction.objects.exists()


def test_staff_without_a_group_see_no_endpoint_and_no_log(client, shop):
    client.force_login(make_staff())
    assert client.get(LOG).status_code == 403
    assert client.get(f"/admin/checkout/storefront/{shop.pk}/change/").status_code == 403
