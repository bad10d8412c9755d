"""One browser test: an operator finds a payment by its reference and refunds part of it, in
Debian's chromium driven by Playwright, against the live BPS, the sandbox PSP and a real worker."""

import secrets
from decimal import Decimal
from pathlib import Path

import pytest

from checkout.models import Checkout
from checkout.services import checkout_create
from checkout.tests.factories import make_storefront
from conftest import CHROMIUM
from midoffice.tests.factories import OPERATOR, PASSWORD, make_staff
from payments.buy_now import attempt_buy_now
from payments.states import CheckoutStatus
from payments.transitions import Cause

pytestmark = [pytest.mark.browser, pytest.mark.sandbox]

OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_an_operator_finds_a_payment_by_reference_and_refunds_part_of_it(e2e, live_server, worker):
    # given a paid checkout and an operator (set up before Playwright runs its event loop here)
    reference = f"order-{secrets.token_hex(3)}"
    checkout = checkout_create(amount=Decimal("12.50"), currency="EUR", storefront=make_storefront(),
        reference=reference, cause=Cause(kind="api"))
    attempt_buy_now(checkout_id=checkout.id, token=checkout.psp_token, payment_method="pm_card_visa",
                    cause=Cause(kind="shopper"))
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
        page.click(f"#result_list a:has-text('{checkout.id!s}')")
        # refund 5.00 of it, confirming on the second page,
        page.click("a.refund-link")
        page.fill("#id_amount", "5.00")
        page.fill("#id_reason", "one mug arrived broken")
        page.click("#review-refund")
        expect(page.locator("#confirm-amount")).to_have_text("5.00 EUR")
        page.click("#confirm-refund")
        # then the refunded amount appears by itself once the PSP settles it
        expect(page.locator("#refunded-amount")).to_have_text("5.00 EUR", timeout=30_000)
        expect(page.locator("#checkout-status")).to_have_text("partially_refunded")
        page.locator("#timeline").scroll_into_view_if_needed()
        page.screenshot(path=str(OUTPUT / "checkout-timeline.png"), full_page=True)
        browser.close()
    assert Checkout.objects.get(id=checkout.id).status == CheckoutStatus.PARTIALLY_REFUNDED
