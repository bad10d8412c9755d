"""The mid-office's action pages: thin views that check a permission, parse a form, call one
service and say what happened. The ModelAdmins in checkout/, payments/ and webhooks/ route to them."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, TypeVar

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from midoffice.staff import staff_id
from payments.models import Checkout, PaymentAttempt, Refund, StaffAction
from payments.money import currency_digits, format_amount, format_money, has_currency_digits
from payments.review import attempt_resolve, attempt_review_note, attempt_review_truth
from payments.selectors import checkout_refundable
from payments.staff import attempt_ask_psp, refund_ask_psp, refund_close_unsent, refund_request
from payments.states import AttemptStatus, RefundStatus
from paysite.api_errors import ApiError

M = TypeVar("M", bound=Model)


def object_or_404(queryset: QuerySet[M] | type[M], object_id: str) -> M:
    """The row whose primary key is `object_id`; a 404 for an unknown or malformed one (not a
    UUID, too long, out of range): a staff URL never answers 500 for what its id holds."""
    model = queryset if isinstance(queryset, type) else queryset.model
    try:
        pk = model._meta.pk.to_python(object_id)
    except ValidationError:
        raise Http404("No such record.") from None
    return get_object_or_404(queryset, pk=pk)


def require_perm(request: HttpRequest, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied


def back_to(request: HttpRequest, fallback: str) -> HttpResponseRedirect:
    """Where the button was pressed (the checkout page, the attempt page, a list), if it is ours."""
    target = request.POST.get("next") or request.META.get("HTTP_REFERER", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return HttpResponseRedirect(target)
    return HttpResponseRedirect(fallback)


def checkout_url(checkout_id: object) -> str:
    return reverse("admin:checkout_checkout_change", args=[checkout_id])


def ask_psp_view(model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    require_perm(request, "payments.ask_psp")
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    attempt = object_or_404(PaymentAttempt, object_id)
    action = attempt_ask_psp(attempt_id=attempt.id, actor_id=staff_id(request)).action
    model_admin.message_user(request, f"Asked the PSP: {action.outcome}.", messages.INFO)
    return back_to(request, checkout_url(attempt.checkout_id))


class RefundForm(forms.Form):
    amount = forms.DecimalField(min_value=Decimal("0.001"), max_digits=11, decimal_places=3)
    reason = forms.CharField(max_length=255, widget=forms.TextInput(attrs={"size": 60}))
    # One key per form shown: it becomes the refund's id, so submitting the same form twice
    # (a double click, a reload of the confirmation) finds the first refund.
    request_key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, currency: str, left: Decimal, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.currency, self.left = currency, left
        amount = self.fields["amount"]
        amount.help_text = f"{currency}; at most {format_amount(left, currency)} is left to refund."
        # The browser's arrows and checks follow the currency's digits (0.01 EUR, 1 JPY, 0.001 KWD), not
        # the column's 3 places; `min` is the base the browser counts steps from, so it moves too.
        smallest = str(Decimal(1).scaleb(-currency_digits(currency)))
        amount.widget.attrs.update(step=smallest, min=smallest)

    def clean_amount(self) -> Decimal:
        amount: Decimal = self.cleaned_data["amount"]
        if not has_currency_digits(amount, self.currency):
            raise forms.ValidationError(f"{self.currency} has {currency_digits(self.currency)} decimal digits.")
        if amount > self.left:
            raise forms.ValidationError(f"At most {format_amount(self.left, self.currency)} is left to refund.")
        return amount


def refund_view(model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """Enter an amount and a reason, confirm on a second page, then one refund is requested."""
    require_perm(request, "payments.issue_refund")
    checkout = object_or_404(Checkout, object_id)
    refundable = checkout_refundable(checkout=checkout)
    if refundable is None or refundable.left <= 0:
        model_admin.message_user(request, "Nothing is left to refund on this checkout.", messages.WARNING)
        return HttpResponseRedirect(checkout_url(checkout.id))
    currency = refundable.attempt.currency
    if request.method != "POST":
        form = RefundForm(currency=currency, left=refundable.left, initial={
            "amount": format_amount(refundable.left, currency), "request_key": uuid.uuid4()})
        return _refund_page(model_admin, request, checkout, form, step="enter")
    form = RefundForm(request.POST, currency=currency, left=refundable.left)
    if not form.is_valid() or "confirm" not in request.POST:
        return _refund_page(model_admin, request, checkout, form, step="confirm" if form.is_valid() else "enter")
    try:
        result = refund_request(
            checkout_id=checkout.id, amount=form.cleaned_data["amount"], reason=form.cleaned_data["reason"],
            request_key=form.cleaned_data["request_key"], actor_id=staff_id(request),
        )
    except ApiError as exc:
        form.add_error(None, exc.message)
        return _refund_page(model_admin, request, checkout, form, step="enter")
    refund = result.refund
    text = f"Refund of {format_money(refund.amount, refund.currency)}: {refund.status}."
    if not result.created:
        text = f"This refund form was already submitted; nothing more was sent. {text}"
    model_admin.message_user(request, text, messages.SUCCESS if result.created else messages.WARNING)
    return HttpResponseRedirect(checkout_url(checkout.id))


def _refund_page(model_admin: admin.ModelAdmin, request: HttpRequest, checkout: Checkout, form: RefundForm,
                 *, step: str) -> TemplateResponse:
    context = {
        **model_admin.admin_site.each_context(request), "opts": model_admin.model._meta, "original": checkout,
        "title": f"Refund {checkout.reference or checkout.id}", "form": form, "step": step, "checkout": checkout,
        "paid": format_money(checkout.amount, checkout.currency),
    }
    return TemplateResponse(request, "admin/midoffice/refund.html", context)


def _recorded(model_admin: admin.ModelAdmin, request: HttpRequest, action: StaffAction,
              checkout_id: object) -> HttpResponse:
    """Say what a staff action recorded, and go back to its checkout."""
    model_admin.message_user(request, f"Recorded: {action.get_action_display()} ({action.outcome}).",
                             messages.SUCCESS)
    return HttpResponseRedirect(checkout_url(checkout_id))


def resolve_view(model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """The PSP's truth about an attempt in review; staff confirm it, or note why it stays."""
    require_perm(request, "payments.resolve_review")
    attempt = object_or_404(PaymentAttempt.objects.select_related("checkout"), object_id)
    if attempt.status != AttemptStatus.NEEDS_REVIEW:
        model_admin.message_user(request, f"This attempt is {attempt.status}, not in review.", messages.WARNING)
        return HttpResponseRedirect(checkout_url(attempt.checkout_id))
    if request.method == "POST":
        try:
            if request.POST.get("decision") == "confirm":
                action = attempt_resolve(attempt_id=attempt.id, expected_status=request.POST.get("status", ""),
                                         actor_id=staff_id(request), note=request.POST.get("note", ""))
            else:
                action = attempt_review_note(attempt_id=attempt.id, note=request.POST.get("note", ""),
                                             actor_id=staff_id(request))
        except ApiError as exc:
            model_admin.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.path)
        return _recorded(model_admin, request, action, attempt.checkout_id)
    truth = attempt_review_truth(attempt_id=attempt.id, actor_id=staff_id(request))
    context = {
        **model_admin.admin_site.each_context(request), "opts": model_admin.model._meta, "original": attempt,
        "title": "Resolve a payment in review", "attempt": attempt, "truth": truth,
        "ours": format_money(attempt.amount, attempt.currency),
    }
    return TemplateResponse(request, "admin/midoffice/resolve.html", context)


def refund_review_view(model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """A refund in review: ask the PSP (which resends it safely while the PSP remembers its key),
    or close one the PSP never acknowledged as failed, with a note."""
    require_perm(request, "payments.resolve_review")
    refund = object_or_404(Refund.objects.select_related("checkout"), object_id)
    if refund.status != RefundStatus.NEEDS_REVIEW:
        model_admin.message_user(request, f"This refund is {refund.status}, not in review.", messages.WARNING)
        return HttpResponseRedirect(checkout_url(refund.checkout_id))
    if request.method == "POST":
        try:
            if request.POST.get("decision") == "close":
                action = refund_close_unsent(refund_id=refund.id, note=request.POST.get("note", ""),
                                             actor_id=staff_id(request))
            else:
                action = refund_ask_psp(refund_id=refund.id, actor_id=staff_id(request)).action
        except ApiError as exc:
            model_admin.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.path)
        return _recorded(model_admin, request, action, refund.checkout_id)
    context = {
        **model_admin.admin_site.each_context(request), "opts": model_admin.model._meta, "original": refund,
        "title": "A refund in review", "refund": refund,
        "amount": format_money(refund.amount, refund.currency),
    }
    return TemplateResponse(request, "admin/midoffice/refund_review.html", context)

