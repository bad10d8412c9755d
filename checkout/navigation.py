"""Where the shopper's browser goes after Buy Now: the PSP's action page, or our result page."""

from __future__ import annotations

from checkout.models import Checkout
from payments.models import PaymentAttempt
from payments.states import AttemptStatus
from paysite.site import site_url


def next_url_after_buy_now(checkout: Checkout, attempt: PaymentAttempt) -> str:
    if attempt.status == AttemptStatus.REQUIRES_ACTION and attempt.action_url:
        return attempt.action_url
    return site_url("checkout-result", checkout.id)
