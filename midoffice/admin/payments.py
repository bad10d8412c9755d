"""Attempts, refunds, status changes, PSP calls and staff actions in the mid-office.

Nothing here writes a status, an amount or a PSP id: every model is read-only in the admin
(superusers included), and staff act only through the buttons and actions, which call services.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from midoffice.admin import views as admin_views
from midoffice.admin.base import (
    WIDE_LIST,
    DatetimeColumns,
    ReadOnlyAdmin,
    checkout_link,
    polls_cell,
    row_fields,
)
from midoffice.changelists import (
    CsvExportMixin,
    CurrencyFilter,
    FastListMixin,
    PaymentMethodFilter,
    fixed_filter,
    storefront_filter,
)
from midoffice.formats import short_id
from midoffice.search import HELP_TEXT, Term, TermSearch, reference_prefix
from midoffice.staff import staff_id
from midoffice.timeline import call_cause, who
from payments.models import PaymentAttempt, PspCall, Refund, StaffAction, StatusChange
from payments.money import format_amount, format_money
from payments.psp.parse import mask_tokens
from payments.staff import PspAsked, attempt_ask_psp, refund_ask_psp
from payments.states import AttemptStatus, CheckoutStatus, RefundStatus, status_label

# A selection larger than this is refused: each row is one call to the PSP, made while staff wait.
MAX_ASK_PSP = 100


def _ask_until_the_psp_fails(ids: list[Any], ask: Callable[[Any], PspAsked]) -> list[PspAsked]:
    """Ask about each row in turn, but stop at the first the PSP cannot answer: with the PSP down,
    each would wait out every timeout and retry, and the page would hang for minutes. The poller
    keeps asking about the rest anyway."""
    results: list[PspAsked] = []
    for row_id in ids:
        results.append(ask(row_id))
        if not results[-1].answered:
            break
    return results


class AskPspMixin:
    """The "Ask the PSP now" action on a selection of attempts or refunds."""

    def ask_psp_about(self, row_id: Any, actor_id: int) -> PspAsked:
        raise NotImplementedError

    def has_ask_psp_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.ask_psp")

    @admin.action(description="Ask the PSP now about the selected rows", permissions=["ask_psp"])
    def ask_psp_now(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        noun = queryset.model._meta.verbose_name.split()[-1]  # "attempt", "refund"
        ids = list(queryset.values_list("id", flat=True)[: MAX_ASK_PSP + 1])
        if len(ids) > MAX_ASK_PSP:
            self.message_user(request, f"Select at most {MAX_ASK_PSP} {noun}s at a time.",  # type: ignore[attr-defined]
                              messages.ERROR)
            return
        results = _ask_until_the_psp_fails(ids, lambda row_id: self.ask_psp_about(row_id, staff_id(request)))
        changed = sum(1 for result in results if result.changed)
        failed = sum(1 for result in results if not result.answered)
        asked = f"{len(results)} of {len(ids)}" if len(results) < len(ids) else str(len(ids))
        self.message_user(request, f"Asked the PSP about {asked} {noun}(s): {changed} changed, "  # type: ignore[attr-defined]
                          f"{failed} without an answer.", messages.WARNING if failed else messages.SUCCESS)



@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(DatetimeColumns, TermSearch, AskPspMixin, FastListMixin, CsvExportMixin, ReadOnlyAdmin):
    # Reads at 1,280 px: short ids (the whole id in the title), amount and refunded in one cell, poll
    # count and next poll in one cell, one-line dates.
    list_display = ["attempt_id", "checkout_reference", "status", "method_and_psp_id", "amount_and_refunded",
                    "polls", "created"]
    list_filter = ["status", storefront_filter("checkout__storefront"), CurrencyFilter, PaymentMethodFilter,
                   ("checkout__psp_provider", admin.ChoicesFieldListFilter), ("created_at", admin.DateFieldListFilter)]
    search_fields = ["psp_payment_id"]  # shows the box; get_search_results does the searching
    search_help_text = HELP_TEXT
    search_by = {
        "id": lambda term: Q(id=term.id) | Q(checkout_id=term.id),
        "token": lambda term: Q(checkout__psp_token=term.text),
        "payment": lambda term: Q(psp_payment_id=term.text),
        "reference": lambda term: reference_prefix(term.text, "checkout__reference"),
    }
    list_select_related = ["checkout"]
    # Money shown with its currency's digits ("12.50 EUR", "1800 JPY"), never as the column's 3 places.
    readonly_fields = (
        "psp", *row_fields(PaymentAttempt, amount="amount_display", refunded_amount="refunded_display",
                           action_url="action_url_shown")
    )
    fields = readonly_fields
    actions = ["ask_psp_now"]
    change_form_template = "admin/payments/paymentattempt/change_form.html"
    change_list_template = "admin/midoffice/change_list.html"
    csv_columns = [
        ("id", lambda a: a.id), ("checkout", lambda a: a.checkout_id), ("reference", lambda a: a.checkout.reference),
        ("status", lambda a: a.status), ("payment_method", lambda a: a.payment_method),
        ("amount", lambda a: format_amount(a.amount, a.currency)), ("currency", lambda a: a.currency),
        ("refunded_amount", lambda a: format_amount(a.refunded_amount, a.currency)),
        ("failure_code", lambda a: a.failure_code), ("psp_payment_id", lambda a: a.psp_payment_id),
        ("created_at", lambda a: a.created_at.isoformat()), ("updated_at", lambda a: a.updated_at.isoformat()),
    ]

    @admin.display(description="PSP")
    def psp(self, attempt: PaymentAttempt) -> str:
        return attempt.checkout.get_psp_provider_display()

    @admin.display(description="action URL")
    def action_url_shown(self, attempt: PaymentAttempt) -> str:
        # Stripe's 3-D Secure URL carries the PaymentIntent's client secret: staff see its last four.
        return mask_tokens(attempt.action_url)

    @admin.display(description="attempt", ordering="id")
    def attempt_id(self, attempt: PaymentAttempt) -> str:
        return short_id(attempt.id)  # the admin links the first column to the attempt

    @admin.display(description="checkout", ordering="checkout__reference")
    def checkout_reference(self, attempt: PaymentAttempt) -> str:
        return checkout_link(attempt.checkout)

    @admin.display(description="amount")
    def amount_display(self, attempt: PaymentAttempt) -> str:
        return format_money(attempt.amount, attempt.currency)

    @admin.display(description="amount · refunded")
    def amount_and_refunded(self, attempt: PaymentAttempt) -> str:
        if not attempt.refunded_amount:
            return format_html('<span class="nowrap">{}</span>', format_money(attempt.amount, attempt.currency))
        return format_html('<span class="nowrap">{}</span><br><small class="nowrap">{} refunded</small>',
                           format_money(attempt.amount, attempt.currency),
                           format_amount(attempt.refunded_amount, attempt.currency))

    @admin.display(description="method · PSP payment", ordering="payment_method")
    def method_and_psp_id(self, attempt: PaymentAttempt) -> str:
        if not attempt.psp_payment_id:
            return attempt.payment_method
        return format_html("{}<br><small>{}</small>", attempt.payment_method, attempt.psp_payment_id)

    @admin.display(description="polls · next", ordering="next_poll_at")
    def polls(self, attempt: PaymentAttempt) -> str:
        return polls_cell(attempt)

    @admin.display(description="refunded")
    def refunded_display(self, attempt: PaymentAttempt) -> str:
        return format_money(attempt.refunded_amount, attempt.currency) if attempt.refunded_amount else "—"

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/ask-psp/", view(lambda r, object_id: admin_views.ask_psp_view(self, r, object_id)),
                 name="payments_paymentattempt_ask_psp"),
            path("<path:object_id>/resolve/", view(lambda r, object_id: admin_views.resolve_view(self, r, object_id)),
                 name="payments_paymentattempt_resolve"),
            *super().get_urls(),
        ]

    def ask_psp_about(self, row_id: Any, actor_id: int) -> PspAsked:
        return attempt_ask_psp(attempt_id=row_id, actor_id=actor_id)


@admin.register(Refund)
class RefundAdmin(DatetimeColumns, TermSearch, AskPspMixin, FastListMixin, CsvExportMixin, ReadOnlyAdmin):
    list_display = ["refund_id", "checkout_reference", "status", "amount_display", "reason", "psp_refund_id",
                    "requested_by", "created"]
    list_filter = ["status", CurrencyFilter, ("created_at", admin.DateFieldListFilter)]
    search_fields = ["psp_refund_id"]
    search_help_text = HELP_TEXT
    search_by = {
        "id": lambda term: Q(id=term.id) | Q(checkout_id=term.id),
        "refund": lambda term: Q(psp_refund_id=term.text),
        "reference": lambda term: reference_prefix(term.text, "checkout__reference"),
    }
    list_select_related = ["checkout", "requested_by"]
    readonly_fields = row_fields(Refund, amount="amount_display")
    fields = readonly_fields
    actions = ["ask_psp_now"]
    change_list_template = "admin/midoffice/change_list.html"
    csv_columns = [
        ("id", lambda r: r.id), ("checkout", lambda r: r.checkout_id), ("reference", lambda r: r.checkout.reference),
        ("status", lambda r: r.status), ("amount", lambda r: format_amount(r.amount, r.currency)),
        ("currency", lambda r: r.currency), ("reason", lambda r: r.reason),
        ("psp_refund_id", lambda r: r.psp_refund_id),
        ("failure_code", lambda r: r.failure_code), ("created_at", lambda r: r.created_at.isoformat()),
    ]

    @admin.display(description="refund", ordering="id")
    def refund_id(self, refund: Refund) -> str:
        return short_id(refund.id)

    @admin.display(description="checkout", ordering="checkout__reference")
    def checkout_reference(self, refund: Refund) -> str:
        return checkout_link(refund.checkout)

    @admin.display(description="amount")
    def amount_display(self, refund: Refund) -> str:
        return format_money(refund.amount, refund.currency)

    def ask_psp_about(self, row_id: Any, actor_id: int) -> PspAsked:
        return refund_ask_psp(refund_id=row_id, actor_id=actor_id)

    def get_urls(self) -> list[URLPattern]:
        review = self.admin_site.admin_view(lambda r, object_id: admin_views.refund_review_view(self, r, object_id))
        return [path("<path:object_id>/review/", review, name="payments_refund_review"), *super().get_urls()]


# The ledgers are searched by the checkout they belong to, by its exact id (an index lookup).
BY_CHECKOUT_ID: dict[str, Callable[[Term], Q]] = {"id": lambda term: Q(checkout_id=term.id)}


@admin.register(StatusChange)
class StatusChangeAdmin(DatetimeColumns, TermSearch, FastListMixin, ReadOnlyAdmin):
    list_display = ["created", "checkout_reference", "subject", "move", "caused_by"]
    list_filter = ["subject", "cause", fixed_filter("to_status", "to status", sorted(
        {*AttemptStatus.values, *CheckoutStatus.values, *RefundStatus.values}), labels={
        **dict(AttemptStatus.choices), **dict(CheckoutStatus.choices), **dict(RefundStatus.choices)})]
    change_list_template = WIDE_LIST
    search_fields = ["cause_reference"]
    search_help_text = "A checkout id (exact)."
    search_by = BY_CHECKOUT_ID
    list_select_related = ["checkout", "actor"]
    fields = readonly_fields = row_fields(StatusChange)

    @admin.display(description="checkout", ordering="checkout__reference")
    def checkout_reference(self, change: StatusChange) -> str:
        return checkout_link(change.checkout)

    @admin.display(description="from → to")
    def move(self, change: StatusChange) -> str:
        return f"{status_label(change.subject, change.from_status)} → {status_label(change.subject, change.to_status)}"

    @admin.display(description="caused by", ordering="cause")
    def caused_by(self, change: StatusChange) -> str:
        return who(str(change.get_cause_display()), change.actor.get_username() if change.actor else "",
                   change.cause_reference)


@admin.register(PspCall)
class PspCallAdmin(DatetimeColumns, TermSearch, FastListMixin, ReadOnlyAdmin):
    list_display = ["created", "request", "duration_ms", "cause_label", "error", "checkout_short_id"]
    list_filter = [fixed_filter("method", "method", ["GET", "POST"])]
    search_fields = ["path"]
    search_help_text = "A checkout id (exact)."
    search_by = BY_CHECKOUT_ID
    ordering = ["-created_at"]
    change_list_template = WIDE_LIST
    fields = readonly_fields = row_fields(PspCall)

    @admin.display(description="request → answer", ordering="path")
    def request(self, call: PspCall) -> str:
        return f"{call.method} {call.path} → {call.status_code or 'no answer'}"

    @admin.display(description="cause", ordering="cause")
    def cause_label(self, call: PspCall) -> str:
        return call_cause(call.cause)

    @admin.display(description="checkout")
    def checkout_short_id(self, call: PspCall) -> str:
        if call.checkout_id is None:
            return "—"
        return short_id(call.checkout_id, reverse("admin:checkout_checkout_change", args=[call.checkout_id]))


@admin.register(StaffAction)
class StaffActionAdmin(DatetimeColumns, FastListMixin, ReadOnlyAdmin):
    list_display = ["created", "actor", "action", "checkout", "attempt", "refund", "webhook_event_id", "outcome"]
    list_filter = ["action"]
    list_select_related = ["actor", "checkout", "attempt", "refund"]
    change_list_template = WIDE_LIST
    fields = readonly_fields = row_fields(StaffAction)

