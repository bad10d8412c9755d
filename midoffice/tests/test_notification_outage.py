"""A storefront's endpoint down for three days, as staff live it: the real delivery code against a
real receiver (an HTTP server on a thread), the dashboard and the storefront page showing it
disabled, "Enable again" and "send again" bringing every event home. And "send again" racing a
delivery in flight, on PostgreSQL."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.utils import timezone

from midoffice.tests.factories import OPERATOR, make_staff
from payments.models import NotificationEndpoint, StaffAction, StorefrontEvent
from payments.notifications import RETRY_DELAYS, endpoint_set, event_deliver, events_claim_due
from payments.tests.test_notification_delivery import Receiver, _deliver_due, _paid_event


@pytest.fixture
def receiver(settings):
    settings.NOTIFY_ALLOW_PRIVATE_URLS = True  # the receiver is on loopback
    settings.NOTIFY_TIMEOUT = 2
    server = Receiver()
    yield server
    server.server.shutdown()


@pytest.mark.django_db
def test_an_endpoint_down_for_three_days_is_shown_disabled_and_enabled_again_loses_nothing(client, receiver):
    # given a storefront whose endpoint answers 503 to everything
    endpoint_set(storefront_name="shop", url=receiver.url)
    receiver.answers = [503] * 20
    first = _paid_event()
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        # when every try of an event fails (given up after 32 h 35 min) and a later one fails three days on
        _deliver_due()
        for delay in RETRY_DELAYS:
            start += delay
            clock.move_to(start)
            _deliver_due()
        clock.move_to(start + timedelta(days=2))
        later = _paid_event()
        _deliver_due()
        endpoint = NotificationEndpoint.objects.get()
        assert endpoint.disabled_at is not None
        # then the dashboard lists the endpoint as disabled, with the given-up event and the one that waits
        operator = make_staff(OPERATOR)
        client.force_login(operator)
        dashboard = client.get("/admin/").content.decode()
        panel = dashboard[dashboard.index('id="notification-health"'):].split("</section>")[0]
        assert 'id="events-given-up">1<' in panel and ">disabled<" in panel and receiver.url in panel
        shop_page = f"/admin/checkout/storefront/{endpoint.storefront_id}/change/"
        assert shop_page in panel
        # and the storefront's page says so in a banner, with the button to enable it again
        page = client.get(shop_page).content.decode()
        assert 'id="notifications-disabled"' in page and "Enable again" in page
        assert "1 event to deliver</a> will go out" in page
        # and the log shows the given-up event's last answer
        log = client.get("/admin/payments/storefrontevent/?delivery=given_up").content.decode()
        assert first.public_id in log and "503" in log and "oops, try later" in log
        # when the shop answers again and an operator enables the endpoint and sends the given-up event again
        receiver.answers = []
        client.post(f"/admin/checkout/storefront/{endpoint.storefront_id}/enable-notifications/")
        client.post("/admin/payments/storefrontevent/", {"action": "send_again", "_selected_action": [first.pk]})
        clock.move_to(start + timedelta(days=2, minutes=1))
        delivered = _deliver_due() + _deliver_due()  # one delivery in flight per endpoint
    # then both events arrive, the one that waited included, and nothing is left on the dashboard
    assert delivered == ["delivered", "delivered"]
    assert set(StorefrontEvent.objects.values_list("delivery", flat=True)) == {"delivered"}
    sent = [headers["webhook-id"] for _path, headers, _body in receiver.requests[-2:]]
    assert sorted(sent) == sorted([first.public_id, later.public_id])
    assert sorted(StaffAction.objects.values_list("action", flat=True)) == ["enable_endpoint", "send_event_again"]
    dashboard = client.get("/admin/").content.decode()
    assert "Every storefront's endpoint answers." in dashboard and 'id="events-given-up">0<' in dashboard


@pytest.mark.postgres
def test_sending_again_while_a_delivery_is_in_flight_leaves_the_event_due_with_a_fresh_run(transactional_db,
                                                                                           receiver):
    # given an event claimed by a worker
    endpoint_set(storefront_name="shop", url=receiver.url)
    event = _paid_event()
    (pk, claim), = events_claim_due(limit=10)
    operators = [make_staff(OPERATOR) for _ in range(5)]
    start = threading.Barrier(6)

    def send_again(operator):
        browser = Client()
        browser.force_login(operator)
        start.wait()
        try:
            return browser.post("/admin/payments/storefrontevent/", {
                "action": "send_again", "_selected_action": [pk]}).status_code
        finally:
            connection.close()

    def deliver(_):
        start.wait()
        try:
            return event_deliver(event_pk=pk, claim=claim)
        finally:
            connection.close()

    # when five operators press "send again" while the worker delivers it
    with ThreadPoolExecutor(max_workers=6) as pool:
        delivery = pool.submit(deliver, None)
        codes = list(pool.map(send_again, operators))
    # then every press is recorded, the worker's outcome is recorded whichever came first (a press
    # during the delivery waits for it to end), and the event is due again with a fresh run of
    # retries: staff asked for one more delivery, and get exactly one
    assert codes == [302] * 5 and delivery.result() in ("delivered", "pending")
    assert StaffAction.objects.filter(action="send_event_again", storefront_event_id=pk).count() == 5
    event.refresh_from_db()
    assert (event.delivery, event.attempts, event.claimed_until, event.send_again) == ("pending", 0, None, False)
    assert event.last_status_code == 200
    assert _deliver_due() == ["delivered"]
    assert _deliver_due() == []
