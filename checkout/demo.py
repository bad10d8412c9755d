"""The demo storefront's catalogue and the words shoppers see for the sandbox's payment methods."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Product:
    slug: str
    name: str
    blurb: str
    price: Decimal
    currency: str


PRODUCTS = (
    Product("mug", "Enamel mug", "Keeps coffee warm through a long meeting.", Decimal("12.50"), "EUR"),
    Product("notebook", "Dot-grid notebook", "A5, 160 pages, lies flat.", Decimal("18.00"), "EUR"),
    Product("tea", "Sencha tea", "100 g of first-flush leaves from Shizuoka.", Decimal("1800"), "JPY"),
    Product("dates", "Medjool dates", "A box of 500 g.", Decimal("4.750"), "KWD"),
)

PAYMENT_METHOD_LABELS = {
    "pm_card_visa": "Visa: succeeds",
    "pm_card_mastercard": "Mastercard: succeeds",
    "pm_card_declined": "Card: declined",
    "pm_card_insufficient_funds": "Card: insufficient funds",
    "pm_card_expired": "Card: expired",
    "pm_card_3ds": "Card with 3-D Secure: asks you to approve",
    "pm_bank_transfer": "Bank transfer: settles later",
    "pm_bank_transfer_fail": "Bank transfer: fails later",
    "pm_bank_transfer_silent": "Bank transfer: settles later, without a webhook (found by polling)",
}


# What the result page calls the method once it is chosen: the labels above are instructions for
# choosing (what the sandbox will do), not names.
PAYMENT_METHOD_NAMES = {
    "pm_card_visa": "Visa",
    "pm_card_mastercard": "Mastercard",
    "pm_card_declined": "Card",
    "pm_card_insufficient_funds": "Card",
    "pm_card_expired": "Card",
    "pm_card_3ds": "Card with 3-D Secure",
    "pm_bank_transfer": "Bank transfer",
    "pm_bank_transfer_fail": "Bank transfer",
    "pm_bank_transfer_silent": "Bank transfer",
    # Stripe's test PaymentMethods (the purchase page's test buttons in Stripe mode)
    "pm_card_chargeCustomerFail": "Visa",
    "pm_card_authenticationRequired": "Card with 3-D Secure",
    "pm_sepaDebit": "SEPA Direct Debit",
}


def product(slug: str) -> Product | None:
    return next((item for item in PRODUCTS if item.slug == slug), None)


def payment_method_label(method: str) -> str:
    return PAYMENT_METHOD_LABELS.get(method, method)


def payment_method_name(method: str) -> str:
    """A name for people; a PaymentMethod that Stripe.js made (`pm_1Q…`) is a card or an account
    whose details only Stripe holds, so it is named by its id."""
    return PAYMENT_METHOD_NAMES.get(method, method)


def order_reference(item: Product, checkout_id: uuid.UUID) -> str:
    """`demo-notebook-6f1c2a3b`: the product, then the first 8 characters of the checkout's id.

    Unique without a query or a lock (two demo orders of one product share it only if their random
    ids share 32 bits), and the suffix is the short id staff see in the mid-office's lists.
    """
    return f"demo-{item.slug}-{str(checkout_id)[:8]}"
