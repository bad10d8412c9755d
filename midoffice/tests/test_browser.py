"""Browser tests in Debian's chromium driven by Playwright: an operator finds a payment by its
reference and refunds part of it (against the live BPS, the sandbox PSP and a real worker), a
shopper reads why a card failed, and an operator brings a storefront's notifications back."""

import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from checkout.models import Checkout
from checkout.services import checkout_create
from checkout.tests.factories import make_checkout, make_storefront
from conftest import CHROMIUM
from midoffice.tests.factories import OPERATOR, PASSWORD, make_staff
from payments.buy_now import attempt_buy_now
from payments.states import CheckoutStatus
from payments.transitions import Cause

pytestmark = [pytest.mark.browser]

OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# The mid-office's lists that must read at 1,280 px, and the screenshot saved of each (if any).
LISTS = {
    "/admin/payments/paymentattempt/": "attempt-list-1280.png", "/admin/checkout/checkout/": "",
    "/admin/payments/refund/": "", "/admin/payments/statuschange/": "status-changes-1280.png",
    "/admin/payments/pspcall/": "", "/admin/webhooks/webhookevent/": "webhook-events-1280.png",
}


@pytest.mark.sandbox
def test_an_operator_finds_a_payment_by_reference_and_refunds_part_of_it(e2e, live_server, worker):
    # given a paid checkout and an operator (set up before Playwright runs its event loop here)
    reference = f"order-{secrets.token_hex(3)}"
    checkout = checkout_create(amount=Decimal("12.50"), currency="EUR", storefront=make_storefront(),
        reference=reference, cause=Cause(kind="api"))
    attempt_buy_now(checkout_id=checkout.id, token=checkout.psp_token, payment_method="pm_card_visa",
                    cause=Cause(kind="shopper"))
    waiting = checkout_create(amount=Decimal("18.00"), currency="EUR", storefront=make_storefront(),
                              reference=f"demo-notebook-{secrets.token_hex(4)}", cause=Cause(kind="api"))
    attempt_buy_now(checkout_id=waiting.id, token=waiting.psp_token, payment_method="pm_bank_transfer_silent",
                    cause=Cause(kind="shopper"))  # pending, with a next poll: the list's widest row
    operator = make_staff(OPERATOR)
    OUTPUT.mkdir(exist_ok=True)
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(15_000)
        # when they sign in, land on the dashboard,
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", operator.username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        expect(page.locator("#stuck-board")).to_be_visible()
        page.screenshot(path=str(OUTPUT / "dashboard.png"), full_page=True)
        # find the payment by its reference,
        page.goto(f"{live_server.url}/admin/checkout/checkout/")
        page.fill("#searchbar", reference)
        page.press("#searchbar", "Enter")
        page.click(f"#result_list a:has-text('{str(checkout.id)[:8]}')")
        # refund 5.00 of it, confirming on the second page,
        page.click("a.refund-link")
        page.fill("#id_amount", "5.00")
        page.fill("#id_reason", "one mug arrived broken")
        page.click("#review-refund")
        expect(page.locator("#confirm-amount")).to_have_text("5.00 EUR")
        page.click("#confirm-refund")
        # then the refunded amount appears by itself once the PSP settles it
        expect(page.locator("#refunded-amount")).to_have_text("5.00 EUR", timeout=30_000)
        expect(page.locator("#checkout-status")).to_have_text("Partially Refunded")
        page.locator("#timeline").scroll_into_view_if_needed()
        page.screenshot(path=str(OUTPUT / "checkout-timeline.png"), full_page=True)
        # where "Ask the PSP now" (a button in a form) looks like the links beside it
        looks = page.evaluate("""[...document.querySelectorAll('.object-tools li > a, .object-tools li button')]
            .map(tool => { const style = getComputedStyle(tool);
                return [style.backgroundColor, style.color, style.textTransform, style.fontSize, style.borderRadius]
                    .join(' '); })""")
        assert len(looks) >= 3 and len(set(looks)) == 1, looks
        page_overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert page_overflow <= 0, f"the checkout page is {page_overflow} px wider than 1,280 px"
        # and every list, refunds and webhooks included now, reads whole at 1,280 px (no sideways scroll)
        for path, shot in LISTS.items():
            page.goto(f"{live_server.url}{path}")
            expect(page.locator("#result_list")).to_be_visible()
            if shot:
                page.screenshot(path=str(OUTPUT / shot), full_page=True)
            overflow = page.evaluate("(() => { const box = document.querySelector('#changelist .results');"
                                     " return box.scrollWidth - box.clientWidth; })()")
            assert overflow <= 0, f"{path} scrolls sideways by {overflow} px at 1,280 px"
        browser.close()
    assert Checkout.objects.get(id=checkout.id).status == CheckoutStatus.PARTIALLY_REFUNDED


@pytest.mark.sandbox
def test_a_shopper_buys_from_the_demo_shop_and_reads_why_the_card_failed(e2e, live_server):
    # given the demo shop in a browser 1,280 px wide
    OUTPUT.mkdir(exist_ok=True)
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/")
        buttons = page.locator(".products button")
        tops = [buttons.nth(index).bounding_box()["y"] for index in range(buttons.count())]
        page.screenshot(path=str(OUTPUT / "storefront.png"), full_page=True)
        # when they buy the notebook with a card that is declined
        page.click("button:has-text('Buy dot-grid notebook')")
        expect(page.locator("h1")).to_have_text("Pay your order")
        page.check("input[value=pm_card_declined]")
        page.screenshot(path=str(OUTPUT / "purchase.png"), full_page=True)
        page.click("button:has-text('Buy Now')")
        # then the result page says why in words, with the code only as a reference for support
        expect(page.locator("[data-status=failed]")).to_be_visible()
        expect(page.get_by_text("Your card was declined by your bank.", exact=False)).to_be_visible()
        expect(page.locator("#support-reference")).to_have_text("Reference for support: card_declined")
        page.screenshot(path=str(OUTPUT / "result-failed.png"), full_page=True)
        browser.close()
    # and the Buy buttons of the cards on one row stand at the same height
    assert round(tops[0]) == round(tops[1]) and round(tops[2]) == round(tops[3]), tops
    assert Checkout.objects.get().reference.startswith("demo-notebook-")


def test_an_operator_finds_a_storefront_down_enables_it_again_and_sends_a_test_event(transactional_db, live_server,
                                                                                     settings):
    # given a storefront whose endpoint failed for three days and was disabled, with events given up and
    # waiting, and another one failing for an hour (no sandbox needed: the receiver is a thread here)
    from payments.models import NotificationEndpoint
    from payments.notifications import endpoint_set
    from payments.tests.factories import make_endpoint, make_event
    from payments.tests.test_notification_delivery import Receiver, _deliver_due

    settings.NOTIFY_ALLOW_PRIVATE_URLS = True
    receiver = Receiver()
    shop = endpoint_set(storefront_name="mug-shop", url=receiver.url).storefront
    now = timezone.now()
    NotificationEndpoint.objects.filter(storefront=shop).update(
        failing_since=now - timedelta(days=3, hours=2), disabled_at=now - timedelta(hours=2))
    for index in range(3):
        checkout = make_checkout(storefront=shop, reference=f"order-{1040 + index}")
        make_event(shop, checkout, delivery="given_up", attempts=8, next_attempt_at=None, last_attempt_at=now,
                   last_status_code=503, last_answer="<html><body>Service Unavailable: maintenance</body></html>")
    make_event(shop, make_checkout(storefront=shop, reference="order-1043"))
    flaky = make_storefront("pen-shop")
    make_endpoint(flaky, url="https://pens.example/hooks/paysite", failing_since=now - timedelta(hours=1))
    make_event(flaky, make_checkout(storefront=flaky, reference="pens-77"), attempts=2, last_attempt_at=now,
               last_error="ConnectTimeout: connection to pens.example timed out", next_attempt_at=now + timedelta(
                   minutes=25))
    operator = make_staff(OPERATOR)
    OUTPUT.mkdir(exist_ok=True)
    from playwright.sync_api import expect, sync_playwright

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(15_000)
            page.goto(f"{live_server.url}/admin/login/")
            page.fill("#id_username", operator.username)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            # when they read the dashboard's notifications panel
            panel = page.locator("#notification-health")
            expect(panel).to_contain_text("mug-shop")
            expect(page.locator("#events-given-up")).to_have_text("3")
            panel.scroll_into_view_if_needed()
            page.screenshot(path=str(OUTPUT / "dashboard-notifications.png"), full_page=True)
            # and open the storefront that is down
            panel.locator("a:has-text('mug-shop')").click()
            expect(page.locator("#notifications-disabled")).to_be_visible()
            page.screenshot(path=str(OUTPUT / "storefront-disabled.png"), full_page=True)
            _assert_fits(page, "the storefront page")
            # then enable it again and send a test event
            page.click("#enable-notifications")
            expect(page.locator(".messagelist")).to_contain_text("Notifications enabled again")
            expect(page.locator("#notifications-disabled")).to_have_count(0)
            page.click("#send-test-event")
            expect(page.locator(".messagelist")).to_contain_text("Sent a test event")
            # (the worker's part, on a thread: Playwright's event loop refuses the database here)
            with ThreadPoolExecutor(max_workers=1) as worker:
                worker.submit(_deliver_twice, _deliver_due).result()
            page.reload()
            page.screenshot(path=str(OUTPUT / "storefront-enabled.png"), full_page=True)
            # and the delivery log, which reads whole at 1,280 px, shows what came of each
            page.click("a.delivery-log-link")
            expect(page.locator("#result_list")).to_contain_text("test.ping")
            page.screenshot(path=str(OUTPUT / "delivery-log-1280.png"), full_page=True)
            overflow = page.evaluate("(() => { const box = document.querySelector('#changelist .results');"
                                     " return box.scrollWidth - box.clientWidth; })()")
            assert overflow <= 0, f"the delivery log scrolls sideways by {overflow} px at 1,280 px"
            page.goto(f"{live_server.url}/admin/payments/storefrontevent/")
            page.locator("#result_list a:has-text('evt_')").first.click()
            page.screenshot(path=str(OUTPUT / "storefront-event.png"), full_page=True)
            _assert_fits(page, "an event's page")
            browser.close()
    finally:
        receiver.server.shutdown()
    assert sorted(headers["webhook-id"][:4] for _path, headers, _body in receiver.requests) == ["evt_", "evt_"]


def _deliver_twice(deliver_due):
    try:
        deliver_due()
        deliver_due()
    finally:
        connection.close()


def _assert_fits(page, what):
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{what} is {overflow} px wider than 1,280 px"
