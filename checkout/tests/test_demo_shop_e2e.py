"""The issue's "done when", end to end: after `demo_setup` (as `make run` runs it), a bank transfer
bought on the demo shop at `/` shows up there as a paid order by itself. The live BPS, the sandbox
PSP process and a real Celery worker with its beat, which delivers the demo storefront's signed
notifications to the shop's receiver (PostgreSQL and Redis in CI; never eager mode)."""

import io
import re
import time

import pytest
import requests
from django.core.management import call_command
from django.utils.html import strip_tags

from checkout.models import DemoOrder
from payments.models import StorefrontEvent

pytestmark = [pytest.mark.sandbox, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def worker_settings(worker_settings, settings):
    """The demo's notification settings, here and in the worker: the shop's receiver is on loopback."""
    settings.NOTIFY_ALLOW_PRIVATE_URLS = True
    return {**worker_settings, "NOTIFY_ALLOW_PRIVATE_URLS": "true", "NOTIFY_SWEEP_INTERVAL": "0.5"}


def wait_for(condition, timeout=60.0, every=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def _form_post(shopper: requests.Session, url: str, fields: dict[str, str]) -> requests.Response:
    fields = {**fields, "csrfmiddlewaretoken": shopper.cookies["csrftoken"]}
    return shopper.post(url, data=fields, allow_redirects=False, timeout=60)


def test_a_bank_transfer_bought_in_the_demo_shop_shows_up_there_as_paid_by_itself(
    settings, worker_settings, worker, live_server,
):
    settings.DEBUG = True  # demo_setup's own rule: the demo only
    call_command("demo_setup", stdout=io.StringIO())
    shopper = requests.Session()
    base = live_server.url
    # the shopper buys a mug on `/` and pays by bank transfer
    shopper.get(f"{base}/", timeout=30)
    started = _form_post(shopper, f"{base}/", {"product": "mug"})
    assert started.status_code == 303, started.text
    purchase_url = f"{base}{started.headers['Location']}"
    token = re.search(r'name="token" value="([^"]+)"', shopper.get(purchase_url, timeout=30).text).group(1)
    paid = _form_post(shopper, f"{purchase_url}buy-now/", {"token": token, "payment_method": "pm_bank_transfer"})
    assert paid.status_code == 303, paid.text
    order = DemoOrder.objects.get()

    def shop_page() -> str:
        return " ".join(strip_tags(shopper.get(f"{base}/", timeout=30).text).split())

    # the bank transfer settles at the sandbox later; nobody touches anything meanwhile
    assert wait_for(lambda: f"order {order.reference}: paid (notified" in shop_page(), timeout=60), (
        shop_page(), worker.log()[-4000:]
    )
    # and the shop learnt it from the signed deliveries alone, the paid one being its newest
    order.refresh_from_db()
    events = StorefrontEvent.objects.filter(checkout_id=order.checkout_id).order_by("sequence")
    assert [event.type for event in events] == ["checkout.processing", "checkout.paid"]
    assert order.last_sequence == events.last().sequence  # type: ignore[union-attr]
    assert wait_for(lambda: all(e.delivery == "delivered" and e.last_status_code == 200 for e in events.all()))
