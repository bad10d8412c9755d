"""The shopper's server-rendered pages. Thin: read, call one service, render or redirect."""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from checkout import demo, stripe_page
from checkout.csp import content_security_policy
from checkout.demo_orders import demo_order_create, demo_orders_awaited, demo_orders_listed
from checkout.failures import failure_sentence
from checkout.models import Checkout
from checkout.navigation import next_url_after_buy_now
from checkout.redirects import is_allowed_redirect
from checkout.services import checkout_create, demo_storefront
from payments.attempt_lifecycle import attempt_sync
from payments.buy_now import attempt_buy_now
from payments.models import PaymentAttempt
from payments.psp.types import PspError
from payments.selectors import checkout_expired, checkout_latest_attempt, checkout_with_latest_attempt
from payments.states import UNFINISHED_ATTEMPT_STATUSES, AttemptStatus, CheckoutStatus
from payments.transitions import Cause
from paysite.api_errors import ApiError

logger = logging.getLogger(__name__)

# How long the result page waits before asking the PSP itself about a `started` attempt, and
# how often at most it asks again (the page refreshes every few seconds).
ASK_PSP_AFTER_SECONDS = 3
ASK_PSP_EVERY_SECONDS = 10
# The demo shop remembers a shopper's latest orders in their session, and lists them on `/`.
SESSION_ORDERS = "demo_orders"
ORDERS_LISTED = 5


class SeeOther(HttpResponseRedirect):
    status_code = 303


@content_security_policy()
@require_http_methods(["GET", "POST"])
def storefront(request: HttpRequest) -> HttpResponse:
    error = ""
    if request.method == "POST":
        item = demo.product(request.POST.get("product", ""))
        if item is None:
            error = "Please choose a product."
        else:
            checkout_id = uuid.uuid4()
            try:
                checkout = checkout_create(
                    amount=item.price, currency=item.currency, description=item.name, checkout_id=checkout_id,
                    reference=demo.order_reference(item, checkout_id), storefront=demo_storefront(),
                    cause=Cause(kind="shopper", reference="demo storefront"),
                )
            except ApiError as exc:
                error = exc.message
            else:
                demo_order_create(checkout=checkout)
                earlier = request.session.get(SESSION_ORDERS, [])
                request.session[SESSION_ORDERS] = [str(checkout.id), *earlier][:ORDERS_LISTED]
                return SeeOther(checkout_url(checkout))
    status = 503 if error and request.method == "POST" else 200
    orders = demo_orders_listed(checkout_ids=request.session.get(SESSION_ORDERS, []))
    context = {
        "products": demo.PRODUCTS, "error": error, "orders": orders,
        # The page refreshes itself (no script: the CSP allows none inline) while the shopper
        # waits for an order's outcome, so a notification shows up without a click.
        "refresh": demo_orders_awaited(orders, now=timezone.now()),
    }
    return render(request, "checkout/storefront.html", context, status=status)


def checkout_url(checkout: Checkout) -> str:
    return reverse("checkout-purchase", args=[checkout.id])


def _purchase_context(checkout: Checkout, error: str = "", chosen: str = "") -> dict[str, object]:
    methods = [(method, demo.payment_method_label(method)) for method in settings.PSP_PAYMENT_METHODS]
    expired = checkout_expired(checkout=checkout, now=timezone.now())
    attempt = checkout_latest_attempt(checkout=checkout)
    return {
        "checkout": checkout, "attempt": attempt, "methods": methods, "error": error,
        "failure_sentence": failure_sentence(attempt.failure_code if attempt else None),
        "chosen": chosen or settings.PSP_PAYMENT_METHODS[0], "payable": checkout.status == CheckoutStatus.OPEN
        and not expired, "expired": expired,
        "stripe": stripe_page.page_context(checkout) if stripe_page.enabled() else None,
    }


@content_security_policy(stripe_page.csp_sources)
@require_GET
def purchase(request: HttpRequest, checkout_id: uuid.UUID) -> HttpResponse:
    checkout = get_object_or_404(Checkout, id=checkout_id)
    return render(request, "checkout/purchase.html", _purchase_context(checkout))


@content_security_policy(stripe_page.csp_sources)  # a refused Buy Now shows the purchase page again
@require_POST
def buy_now(request: HttpRequest, checkout_id: uuid.UUID) -> HttpResponse:
    checkout = get_object_or_404(Checkout, id=checkout_id)
    method = request.POST.get("payment_method", "")
    try:
        result = attempt_buy_now(
            checkout_id=checkout.id, token=request.POST.get("token", ""), payment_method=method,
            cause=Cause(kind="shopper"),
        )
    except ApiError as exc:
        checkout.refresh_from_db()
        context = _purchase_context(checkout, error=exc.message, chosen=method)
        return render(request, "checkout/purchase.html", context, status=exc.status_code)
    return SeeOther(next_url_after_buy_now(checkout, result.attempt))


@content_security_policy()
@require_GET
def psp_return(request: HttpRequest, checkout_id: uuid.UUID) -> HttpResponse:
    """The PSP sends the browser here after its own page. Nothing in the query string is
    trusted: we ask the PSP about our own latest attempt, then show the result."""
    checkout = get_object_or_404(Checkout, id=checkout_id)
    attempt = checkout_latest_attempt(checkout=checkout)
    if attempt is not None and attempt.status in UNFINISHED_ATTEMPT_STATUSES:
        _ask_psp(attempt, throttle=True)  # anyone with the URL may reload it: one PSP read per 10 s
    return SeeOther(reverse("checkout-result", args=[checkout.id]))


@content_security_policy()
@require_GET
def result(request: HttpRequest, checkout_id: uuid.UUID) -> HttpResponse:
    found = checkout_with_latest_attempt(checkout_id=checkout_id)
    if found is None:
        raise Http404("No checkout has this id.")
    checkout, attempt = found
    if attempt is None:
        return redirect(checkout_url(checkout))
    age = (timezone.now() - attempt.updated_at).total_seconds()
    if attempt.status == AttemptStatus.STARTED and age >= ASK_PSP_AFTER_SECONDS:
        attempt = _ask_psp(attempt, throttle=True)
        checkout.refresh_from_db()
    context = {
        "checkout": checkout, "attempt": attempt, "method_name": demo.payment_method_name(attempt.payment_method),
        "failure_sentence": failure_sentence(attempt.failure_code),
        "succeeded": attempt.status == AttemptStatus.SUCCEEDED,
        "failed": attempt.status == AttemptStatus.FAILED,
        "in_review": attempt.status == AttemptStatus.NEEDS_REVIEW,
        # Checked again on the way out: a URL stored before the rule was strict, or by another
        # path than the API, never sends the shopper elsewhere.
        "success_url": checkout.success_url if is_allowed_redirect(checkout.success_url) else "",
        "failure_url": checkout.failure_url if is_allowed_redirect(checkout.failure_url) else "",
    }
    return render(request, "checkout/result.html", context)


def _ask_psp(attempt: PaymentAttempt, *, throttle: bool) -> PaymentAttempt:
    if throttle and not cache.add(f"result-page-sync:{attempt.id}", 1, timeout=ASK_PSP_EVERY_SECONDS):
        return attempt
    try:
        return attempt_sync(attempt_id=attempt.id, cause=Cause(kind="shopper", reference="result page"))
    except PspError:
        logger.info("the PSP could not tell us about attempt %s yet", attempt.id)
        return attempt
