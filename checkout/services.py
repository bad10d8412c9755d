"""Starting a checkout, and ending the ones nobody paid."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from checkout.models import ApiKey, Checkout, Storefront
from checkout.redirects import is_allowed_redirect
from payments.gateway import atomic_with_psp_calls, psp, psp_calls_held
from payments.locks import lock_checkout
from payments.money import CURRENCY_DIGITS, has_currency_digits
from payments.psp.types import PspError, PspRejected, PspSession
from payments.selectors import checkout_expired, checkouts_past_expiry
from payments.states import CheckoutStatus
from payments.transitions import Cause, move_checkout, record_creation
from paysite.api_errors import ApiError, Conflict, ServiceUnavailable

DEMO_STOREFRONT = "demo"


def checkout_create(
    *, amount: Decimal, currency: str, storefront: Storefront, description: str = "", reference: str = "",
    success_url: str = "", failure_url: str = "", api_key: ApiKey | None = None, checkout_id: uuid.UUID | None = None,
    resumable: bool = True, cause: Cause,
) -> Checkout:
    """Register a payment session at the PSP, then store the checkout with its token.

    The PSP comes first: if it cannot register the session, nothing is stored and
    `ServiceUnavailable` (psp_unavailable) is raised, so no payable checkout is left behind.
    Resumable: given the `checkout_id` of an earlier try (the storefront's Idempotency-Key
    decides it), the checkout of that id is the answer if it was stored, and otherwise the PSP
    is asked again with the same session key, which it treats as a retry: one checkout, one
    session, however often the storefront retries. `resumable=False` says that `checkout_id`
    was drawn for this request (no earlier try can have stored it), which saves looking for it
    first; a takeover that stored it meanwhile is still caught by the primary key.
    """
    _check_money(amount, currency)
    for field, url in (("success_url", success_url), ("failure_url", failure_url)):
        if url and not is_allowed_redirect(url):
            raise ApiError(f"{field} must be an http(s) URL on an allowed host.", fields={field: ["Host not allowed."]})
    if checkout_id is None:
        checkout_id, resumable = uuid.uuid4(), False
    existing = _resumed(checkout_id, storefront) if resumable else None
    if existing is not None:
        return existing
    try:
        # The session's call record commits with the checkout (payments/gateway.py).
        with psp_calls_held():
            session = _register_session(checkout_id, amount, currency, description)
            with atomic_with_psp_calls():
                checkout = Checkout.objects.create(
                    id=checkout_id, amount=amount, currency=currency, description=description,
                    reference=reference, psp_token=session.token, psp_provider=settings.PSP_PROVIDER,
                    expires_at=session.expires_at, success_url=success_url, failure_url=failure_url,
                    storefront=storefront, api_key=api_key,
                )
                record_creation(checkout, cause)
    except IntegrityError:
        # A takeover of the same key stored it a moment ago.
        resumed = _resumed(checkout_id, storefront)
        if resumed is None:
            raise
        return resumed
    return checkout


def _resumed(checkout_id: uuid.UUID, storefront: Storefront) -> Checkout | None:
    checkout = Checkout.objects.filter(id=checkout_id).first()
    if checkout is not None and checkout.storefront_id != storefront.id:
        raise Conflict("This checkout id is taken.", code="checkout_id_taken")  # ids are random: never in practice
    return checkout


def _register_session(checkout_id: uuid.UUID, amount: Decimal, currency: str, description: str) -> PspSession:
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
    return session


def demo_storefront() -> Storefront:
    """The storefront of the demo shop at `/`, whose checkouts are made without an API key."""
    return Storefront.objects.get_or_create(name=DEMO_STOREFRONT)[0]


def _check_money(amount: Decimal, currency: str) -> None:
    if currency not in CURRENCY_DIGITS:
        raise ApiError(f"Unsupported currency {currency!r}.", code="invalid_currency",
                       fields={"currency": ["Unsupported currency."]})
    if amount <= 0 or not has_currency_digits(amount, currency):
        raise ApiError(f"Invalid amount for {currency}.", code="invalid_amount", fields={"amount": ["Invalid amount."]})


def checkouts_expire_due(*, limit: int = 500) -> int:
    """Mark `expired` the open checkouts whose PSP session has ended. Idempotent."""
    due = checkouts_past_expiry(now=timezone.now())
    expired = 0
    for checkout_id in due.values_list("id", flat=True)[:limit]:
        with transaction.atomic():
            checkout = lock_checkout(checkout_id)
            if checkout.status == CheckoutStatus.OPEN and checkout_expired(checkout=checkout, now=timezone.now()):
                expired += move_checkout(checkout, CheckoutStatus.EXPIRED, Cause(kind="system"))
    return expired
