"""Starting a checkout, and ending the ones nobody paid."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from checkout.models import ApiKey, Checkout
from checkout.redirects import is_allowed_redirect
from payments.gateway import psp
from payments.locks import lock_checkout
from payments.money import CURRENCY_DIGITS, has_currency_digits
from payments.psp.types import PspError, PspRejected
from payments.states import CheckoutStatus
from payments.transitions import Cause, move_checkout, record_creation
from paysite.api_errors import ApiError, ServiceUnavailable


def checkout_create(
    *, amount: Decimal, currency: str, description: str = "", reference: str = "", success_url: str = "",
    failure_url: str = "", api_key: ApiKey | None = None, cause: Cause,
) -> Checkout:
    """Register a payment session at the PSP, then store the checkout with its token.

    The PSP comes first: if it cannot register the session, nothing is stored and
    `ServiceUnavailable` (psp_unavailable) is raised, so no payable checkout is left behind.
    The PSP treats a repeated checkout id as a retry, so the client's retries are safe.
    """
    _check_money(amount, currency)
    for field, url in (("success_url", success_url), ("failure_url", failure_url)):
        if url and not is_allowed_redirect(url):
            raise ApiError(f"{field} must be an http(s) URL on an allowed host.", fields={field: ["Host not allowed."]})
    checkout_id = uuid.uuid4()
    try:
        session = psp().create_session(
            checkout_id=str(checkout_id), amount=amount, currency=currency, description=description,
            idempotency_key=f"bps-session-{checkout_id}", context={"checkout_id": str(checkout_id)},
        )
    except PspRejected as exc:
        if exc.code in ("invalid_amount", "invalid_currency"):
            field = exc.code.removeprefix("invalid_")
            raise ApiError(exc.message, code=exc.code, fields={field: [exc.message]}) from exc
        raise ServiceUnavailable("The PSP refused to register the payment.", code="psp_unavailable") from exc
    except PspError as exc:
        raise ServiceUnavailable(
            "The PSP cannot register payments right now; try again.", code="psp_unavailable"
        ) from exc
    if session.amount != amount or session.currency != currency:
        raise ServiceUnavailable("The PSP registered another amount; nothing was stored.", code="psp_unavailable")
    with transaction.atomic():
        checkout = Checkout.objects.create(
            id=checkout_id, amount=amount, currency=currency, description=description, reference=reference,
            psp_token=session.token, expires_at=session.expires_at, success_url=success_url,
            failure_url=failure_url, api_key=api_key,
        )
        record_creation(checkout, cause)
    return checkout


def _check_money(amount: Decimal, currency: str) -> None:
    if currency not in CURRENCY_DIGITS:
        raise ApiError(f"Unsupported currency {currency!r}.", code="invalid_currency",
                       fields={"currency": ["Unsupported currency."]})
    if amount <= 0 or not has_currency_digits(amount, currency):
        raise ApiError(f"Invalid amount for {currency}.", code="invalid_amount", fields={"amount": ["Invalid amount."]})


def checkouts_expire_due(*, limit: int = 500) -> int:
    """Mark `expired` the open checkouts whose PSP session has ended. Idempotent."""
    due = Checkout.objects.filter(status=CheckoutStatus.OPEN, expires_at__lte=timezone.now())
    expired = 0
    for checkout_id in due.values_list("id", flat=True)[:limit]:
        with transaction.atomic():
            checkout = lock_checkout(checkout_id)
            if checkout.status == CheckoutStatus.OPEN and checkout.expires_at <= timezone.now():
                expired += move_checkout(checkout, CheckoutStatus.EXPIRED, Cause(kind="system"))
    return expired
