"""The Stripe purchase page in Debian's chromium, under its real Content-Security-Policy, with no
internet: https://js.stripe.com/v3/ is answered by a stand-in that implements the part of Stripe.js
the page uses (deferred-mode Elements, submit, createPaymentMethod), or fails to load. Buy Now's
POST is caught in the browser: what the page sends is the subject here, not the payment."""

from urllib.parse import parse_qs

import pytest

from checkout.tests.factories import make_checkout
from checkout.tests.test_stripe_purchase_page import _stripe_mode
from conftest import CHROMIUM

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Records every call; window.fakeSubmitError (set before the page's scripts) makes submit() fail
# as Stripe.js does for an incomplete card.
STAND_IN_STRIPE_JS = """
window.stripeCalls = [];
window.Stripe = function (key) {
  window.stripeCalls.push(["Stripe", key]);
  return {
    elements: function (options) {
      window.stripeCalls.push(["elements", options]);
      return {
        create: function (type) {
          window.stripeCalls.push(["create", type]);
          return {mount: function (selector) { window.stripeCalls.push(["mount", selector]); }};
        },
        submit: function () {
          window.stripeCalls.push(["submit"]);
          return Promise.resolve(window.fakeSubmitError ? {error: {message: window.fakeSubmitError}} : {});
        },
      };
    },
    createPaymentMethod: function (options) {
      window.stripeCalls.push(["createPaymentMethod", Object.keys(options)]);
      return Promise.resolve({paymentMethod: {id: "pm_1MadeByStripeJs"}});
    },
  };
};
"""


def _open(live_server, settings, *, stripe_js, init_script=""):
    """The purchase page of a new EUR 12.50 checkout: (playwright page, posted bodies, CSP reports)."""
    from playwright.sync_api import sync_playwright

    _stripe_mode(settings)
    checkout = make_checkout()
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page()
    page.set_default_timeout(10_000)
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    posted: list[dict[str, list[str]]] = []

    def catch_buy_now(route):  # type: ignore[no-untyped-def]
        posted.append(parse_qs(route.request.post_data or ""))
        route.fulfill(status=200, content_type="text/html", body="<p id=posted>posted</p>")

    page.route("**/buy-now/", catch_buy_now)
    if stripe_js:
        page.route("https://js.stripe.com/v3/", lambda route: route.fulfill(
            status=200, content_type="application/javascript", body=STAND_IN_STRIPE_JS))
    else:
        page.route("https://js.stripe.com/v3/", lambda route: route.abort())
    if init_script:
        page.add_init_script(init_script)
    page.goto(f"{live_server.url}/checkout/{checkout.id}/")
    page.wait_for_load_state("load")
    return playwright, page, posted, violations


@pytest.fixture
def chromium_page(live_server, settings):
    opened = []

    def open_page(**options):  # type: ignore[no-untyped-def]
        opened.append(_open(live_server, settings, **options))
        return opened[-1][1:]

    yield open_page
    for playwright, page, _posted, _violations in opened:
        page.context.browser.close()
        playwright.stop()


def test_the_card_form_posts_the_payment_method_that_stripe_js_made(chromium_page):
    # given the page with Stripe.js answering
    page, posted, violations = chromium_page(stripe_js=True)
    page.locator("#stripe-payment").wait_for(state="visible")
    # when the shopper presses the card form's Buy Now
    page.click("#stripe-buy-now")
    page.locator("#posted").wait_for()
    # then only the id of the PaymentMethod that Stripe.js made was posted, with the form's token
    assert posted[0]["payment_method"] == ["pm_1MadeByStripeJs"]
    assert set(posted[0]) == {"csrfmiddlewaretoken", "token", "payment_method"}
    assert violations == []


def test_stripe_js_is_set_up_in_deferred_mode_with_manual_payment_method_creation(chromium_page):
    page, _posted, violations = chromium_page(stripe_js=True)
    page.locator("#stripe-payment").wait_for(state="visible")
    calls = page.evaluate("window.stripeCalls")
    assert calls[:4] == [
        ["Stripe", "pk_test_51PublishableKeyForTheBrowser00000"],
        ["elements", {"mode": "payment", "amount": 1250, "currency": "eur", "paymentMethodCreation": "manual"}],
        ["create", "payment"], ["mount", "#payment-element"],
    ]
    assert violations == []


def test_a_card_stripe_js_refuses_shows_its_message_and_posts_nothing(chromium_page):
    page, posted, _violations = chromium_page(
        stripe_js=True, init_script="window.fakeSubmitError = 'Your card number is incomplete.';")
    page.locator("#stripe-payment").wait_for(state="visible")
    page.click("#stripe-buy-now")
    error = page.locator("#stripe-error")
    error.wait_for(state="visible")
    assert error.inner_text() == "Your card number is incomplete."
    assert page.locator("#stripe-buy-now").is_enabled()
    assert posted == []


def test_without_stripe_js_the_page_says_so_and_the_test_buttons_still_pay(chromium_page):
    # given the page offline: Stripe.js does not load
    page, posted, violations = chromium_page(stripe_js=False)
    status = page.locator("#stripe-status")
    status.wait_for(state="visible")
    assert "Stripe.js did not load" in status.inner_text()
    assert page.locator("#stripe-payment").is_hidden()
    # when the shopper presses the 3-D Secure test button
    page.click("button[value=pm_card_authenticationRequired]")
    page.locator("#posted").wait_for()
    # then the plain form posted that test id
    assert posted[0]["payment_method"] == ["pm_card_authenticationRequired"]
    assert violations == []
