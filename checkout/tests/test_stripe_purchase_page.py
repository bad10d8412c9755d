"""The purchase page in Stripe mode (Stripe.js, its Payment Element, test buttons) and the shopper
pages' Content-Security-Policy, which lets Stripe.js in on that one page and only in Stripe mode."""

import re

import pytest
from django.test import Client

from checkout.csp import BASE_POLICY, policy
from checkout.tests.factories import make_checkout
from payments.states import CheckoutStatus

pytestmark = pytest.mark.django_db

SECRET_KEY = "sk_test_51SECRETneverOnThePage0000000000"
LIVE_SECRET_KEY = "sk_live_51SECRETneverOnThePage0000000000"
PUBLISHABLE_KEY = "pk_test_51PublishableKeyForTheBrowser00000"
LIVE_PUBLISHABLE_KEY = "pk_live_51PublishableKeyForTheBrowser00000"
EMULATOR = "http://127.0.0.1:8420"
TEST_IDS = ["pm_card_visa", "pm_card_chargeCustomerFail", "pm_card_authenticationRequired"]


@pytest.fixture
def browser():
    return Client(enforce_csrf_checks=True)


def _stripe_mode(settings, *, secret_key=SECRET_KEY, publishable_key=PUBLISHABLE_KEY, api_base=""):
    settings.PSP_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = secret_key
    settings.STRIPE_PUBLISHABLE_KEY = publishable_key
    settings.STRIPE_WEBHOOK_SECRET = "whsec_dGVzdC13ZWJob29rLXNlY3JldC0xMjM0NTY3OA=="
    settings.STRIPE_API_BASE = api_base
    # As paysite/settings.py derives it: a test key or an emulator.
    settings.STRIPE_TEST_MODE = secret_key.startswith("sk_test_") or bool(api_base)


def _directives(response):
    header = response["Content-Security-Policy"]
    return {name: sources for name, *sources in (part.split() for part in header.split(";"))}


def _external_sources(response):
    """Every source in the policy that is not a keyword such as 'self' or 'none'."""
    return {source for sources in _directives(response).values() for source in sources if not source.startswith("'")}


def _script_sources(html):
    return re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)


def _purchase(browser, checkout):
    return browser.get(f"/checkout/{checkout.id}/")


# --- Generic mode: nothing external -----------------------------------------------------------


def test_the_generic_purchase_page_loads_no_script_and_sends_the_strict_policy(browser, settings):
    settings.PSP_PROVIDER = "generic"
    page = _purchase(browser, make_checkout())
    html = page.content.decode()
    assert page.status_code == 200
    assert _script_sources(html) == [] and "stripe" not in html.lower()
    assert page["Content-Security-Policy"] == policy()
    assert _external_sources(page) == set()
    assert _directives(page)["default-src"] == ["'none'"] and _directives(page)["frame-ancestors"] == ["'none'"]


@pytest.mark.parametrize("path", ["/", "/checkout/{id}/result/"])
def test_every_shopper_page_sends_the_strict_policy(browser, settings, path):
    _stripe_mode(settings)  # even in Stripe mode: only the purchase page needs Stripe.js
    checkout = make_checkout()
    page = browser.get(path.format(id=checkout.id))
    assert page["Content-Security-Policy"] == policy()


def test_the_mid_office_keeps_django_admins_own_headers(client):
    assert "Content-Security-Policy" not in client.get("/admin/login/")


def test_extra_sources_replace_none_and_add_to_self():
    header = policy({"script-src": ["https://js.example"], "frame-src": ["https://frames.example"]})
    directives = {name: sources for name, *sources in (part.split() for part in header.split(";"))}
    assert directives["script-src"] == ["'self'", "https://js.example"]
    assert directives["frame-src"] == ["https://frames.example"]
    assert directives["default-src"] == ["'none'"]
    assert set(BASE_POLICY) <= set(directives)


# --- Stripe mode -----------------------------------------------------------------------------


def test_the_stripe_page_loads_stripe_js_from_stripe_with_the_publishable_key(browser, settings):
    _stripe_mode(settings)
    page = _purchase(browser, make_checkout(amount="12.50", currency="EUR"))
    html = page.content.decode()
    assert _script_sources(html) == ["https://js.stripe.com/v3/", "/static/checkout/stripe_purchase.js"]
    assert f'data-publishable-key="{PUBLISHABLE_KEY}"' in html
    assert 'data-amount="1250"' in html and 'data-currency="eur"' in html


def test_the_stripe_page_policy_allows_stripe_js_and_its_api_and_nothing_else(browser, settings):
    _stripe_mode(settings)
    directives = _directives(_purchase(browser, make_checkout()))
    assert directives["script-src"] == ["'self'", "https://js.stripe.com", "https://*.js.stripe.com"]
    assert directives["frame-src"] == ["https://js.stripe.com", "https://*.js.stripe.com"]
    assert directives["connect-src"] == ["https://api.stripe.com"]
    assert directives["default-src"] == ["'none'"] and directives["style-src"] == ["'self'"]


def test_with_an_emulator_the_page_loads_its_stripe_js_and_allows_only_its_origin(browser, settings):
    _stripe_mode(settings, api_base=EMULATOR)
    page = _purchase(browser, make_checkout())
    assert _script_sources(page.content.decode())[0] == f"{EMULATOR}/js.stripe.com/v3/"
    assert _external_sources(page) == {EMULATOR}
    assert _directives(page)["script-src"] == ["'self'", EMULATOR]
    assert _directives(page)["connect-src"] == [EMULATOR]


@pytest.mark.parametrize(("currency", "amount", "minor_units"), [
    ("EUR", "12.50", 1250), ("JPY", "1800", 1800), ("KWD", "4.750", 4750),
])
def test_the_payment_element_gets_the_amount_in_the_currencys_smallest_unit(
        browser, settings, currency, amount, minor_units):
    _stripe_mode(settings)
    html = _purchase(browser, make_checkout(amount=amount, currency=currency)).content.decode()
    assert f'data-amount="{minor_units}"' in html and f'data-currency="{currency.lower()}"' in html


@pytest.mark.parametrize("api_base", ["", EMULATOR])
def test_test_mode_offers_stripes_test_payment_methods_as_plain_buttons(browser, settings, api_base):
    _stripe_mode(settings, api_base=api_base)
    checkout = make_checkout()
    html = _purchase(browser, checkout).content.decode()
    form = html[html.index('id="stripe-test-methods"'):]
    form = form[:form.index("</form>")]
    for test_id in TEST_IDS:
        assert f'<button type="submit" class="secondary" name="payment_method" value="{test_id}">' in form
    assert f'value="{checkout.psp_token}"' in form and "csrfmiddlewaretoken" in form


def test_an_emulator_with_a_live_shaped_key_is_still_test_mode(browser, settings):
    _stripe_mode(settings, secret_key=LIVE_SECRET_KEY, publishable_key=LIVE_PUBLISHABLE_KEY, api_base=EMULATOR)
    assert 'id="stripe-test-methods"' in _purchase(browser, make_checkout()).content.decode()


def test_a_live_key_gets_the_payment_element_and_no_test_buttons(browser, settings):
    _stripe_mode(settings, secret_key=LIVE_SECRET_KEY, publishable_key=LIVE_PUBLISHABLE_KEY)
    html = _purchase(browser, make_checkout()).content.decode()
    assert 'id="stripe-payment-form"' in html and 'id="payment-element"' in html
    assert 'id="stripe-test-methods"' not in html
    assert not any(test_id in html for test_id in TEST_IDS)


def test_the_card_form_posts_only_the_payment_method_id_that_stripe_js_fills_in(browser, settings):
    _stripe_mode(settings)
    checkout = make_checkout()
    html = _purchase(browser, checkout).content.decode()
    form = html[html.index('id="stripe-payment-form"'):]
    form = form[:form.index("</form>")]
    assert f'action="/checkout/{checkout.id}/buy-now/"' in html
    # Disabled until Stripe.js has made a PaymentMethod: the form never posts an empty id.
    assert '<input type="hidden" name="payment_method" value="" id="stripe-payment-method" disabled>' in form
    assert "<input" in form and 'name="card' not in form and 'name="number' not in form


@pytest.mark.parametrize("api_base", ["", EMULATOR])
def test_neither_the_secret_key_nor_a_client_secret_reaches_the_page(browser, settings, api_base):
    _stripe_mode(settings, api_base=api_base)
    checkout = make_checkout(psp_token="pi_3PaymentIntentOfThisCheckout")
    page = _purchase(browser, checkout)
    everything = page.content.decode() + str(page.headers)
    assert SECRET_KEY not in everything and "sk_test_" not in everything and "sk_live_" not in everything
    assert "_secret_" not in everything and "client_secret" not in everything.lower()
    assert settings.STRIPE_WEBHOOK_SECRET not in everything and "whsec_" not in everything


def test_a_refused_buy_now_shows_the_stripe_page_again_with_its_policy(browser, settings):
    _stripe_mode(settings)
    checkout = make_checkout()
    token = browser.get(f"/checkout/{checkout.id}/") and browser.cookies["csrftoken"].value
    response = browser.post(f"/checkout/{checkout.id}/buy-now/", {
        "token": "pi_forged", "payment_method": "pm_card_visa", "csrfmiddlewaretoken": token})
    assert response.status_code == 403
    assert "https://js.stripe.com/v3/" in _script_sources(response.content.decode())
    assert "https://js.stripe.com" in _directives(response)["script-src"]


def test_a_page_that_cannot_be_paid_loads_no_stripe_js(browser, settings):
    _stripe_mode(settings)
    page = _purchase(browser, make_checkout(status=CheckoutStatus.PAID))
    assert _script_sources(page.content.decode()) == []
    assert "A payment for this order is already under way or done." in page.content.decode()
