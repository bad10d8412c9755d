"""Where the shopper's browser goes after Buy Now: the PSP's action page, or our result page."""

from __future__ import annotations

from checkout.models import Checkout
from checkout.redirects import redirect_host
from payments.models import PaymentAttempt
from payments.states import AttemptStatus
from paysite.site import site_url


def next_url_after_buy_now(checkout: Checkout, attempt: PaymentAttempt) -> str:
    """The PSP's action page when it asks for one and it is a plain absolute http(s) URL (the
    PSP's host is its own, but never `javascript:` or a URL browsers read differently); our
    result page otherwise."""
    if attempt.status == AttemptStatus.REQUIRES_ACTION and redirect_host(attempt.action_url) is not None:
        return attempt.action_url
    return site_url("checkout-result", checkout.id)
