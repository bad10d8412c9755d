"""What the purchase page needs in Stripe mode: Stripe.js, its Payment Element, and test buttons.

Card details never reach our server: Stripe.js collects them in Stripe's own frames and makes a
PaymentMethod, and the page posts only its `pm_…` id with Buy Now (Stripe's "finalize payments on
the server" flow; the server confirms the PaymentIntent). The page is given the publishable key and
nothing else of ours: never the secret key, never a PaymentIntent's client secret.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

from checkout.csp import Sources
from checkout.models import Checkout
from payments.psp.stripe import to_minor_units

STRIPE_JS_URL = "https://js.stripe.com/v3/"
# Stripe.js comes from js.stripe.com and starts its frames on its subdomains; it talks to
# api.stripe.com. Stripe's security guide (docs.stripe.com/security/guide) lists these.
STRIPE_JS_ORIGINS = ("https://js.stripe.com", "https://*.js.stripe.com")
STRIPE_API_ORIGIN = "https://api.stripe.com"

# Stripe's test PaymentMethods (docs.stripe.com/testing, "PaymentMethods"), offered as plain form
# buttons with a test key or an emulator, so the demo and the browser test need neither card
# entry nor the internet. Stripe documents no such id for SEPA Direct Debit (a test IBAN must be
# typed into the Payment Element), so there is no SEPA button.
TEST_PAYMENT_METHODS = (
    ("pm_card_visa", "Visa: succeeds"),
    ("pm_card_chargeCustomerFail", "Visa: declined when charged"),
    ("pm_card_authenticationRequired", "Card with 3-D Secure: asks you to approve"),
)
# Only the emulator's bridge knows these (docs/stripe-emulator.md): an asynchronous payment for the
# demo without a Stripe account. Never offered against Stripe itself.
EMULATOR_TEST_METHODS = (("pm_sepaDebit", "SEPA Direct Debit: settles later (emulator)"),)


def enabled() -> bool:
    return bool(settings.PSP_PROVIDER == "stripe")


def stripe_js_url() -> str:
    """Stripe's own Stripe.js; with an emulator (STRIPE_API_BASE, tests and demos only), the copy
    it serves at /js.stripe.com/v3/, so that a page without internet still loads one."""
    if settings.STRIPE_API_BASE:
        return f"{settings.STRIPE_API_BASE.rstrip('/')}/js.stripe.com/v3/"
    return STRIPE_JS_URL


def csp_sources() -> Sources:
    """What the purchase page's policy adds in Stripe mode; nothing in generic mode."""
    if not enabled():
        return {}
    if settings.STRIPE_API_BASE:
        emulator = _origin(settings.STRIPE_API_BASE)  # serves the script and answers its calls
        return {"script-src": (emulator,), "connect-src": (emulator,)}
    return {"script-src": STRIPE_JS_ORIGINS, "frame-src": STRIPE_JS_ORIGINS, "connect-src": (STRIPE_API_ORIGIN,)}


def page_context(checkout: Checkout) -> dict[str, object]:
    return {
        "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
        "js_url": stripe_js_url(),
        # The Payment Element shows the amount as the PaymentIntent holds it: Stripe's minor units.
        "amount": to_minor_units(checkout.amount, checkout.currency),
        "currency": checkout.currency.lower(),
        "test_methods": _test_methods(),
    }


def _test_methods() -> tuple[tuple[str, str], ...]:
    if settings.STRIPE_API_BASE:
        return TEST_PAYMENT_METHODS + EMULATOR_TEST_METHODS
    return TEST_PAYMENT_METHODS if settings.STRIPE_TEST_MODE else ()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
