"""Checkouts and API keys in the mid-office (storefronts: midoffice/admin/storefronts.py). A
checkout's page is where staff read its whole story (the timeline) and act on it; nothing on it
is editable by hand."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils.html import format_html

from checkout.api_keys import api_key_revoke
from checkout.models import ApiKey, Checkout
from midoffice.admin import views as admin_views
from midoffice.admin.base import DatetimeColumns, MissingRecordIs404, ReadOnlyAdmin, ReadOnlyInline, polls_cell
from midoffice.changelists import CsvExportMixin, CurrencyFilter, FastListMixin, storefront_filter
from midoffice.formats import short_id, when
from midoffice.search import HELP_TEXT, TermSearch, reference_prefix
from midoffice.timeline import checkout_timeline
from payments.models import PaymentAttempt, Refund
from payments.money import format_amount, format_money
from payments.psp.parse import redact
from payments.selectors import checkout_latest_attempt, checkout_refundable


class AttemptInline(DatetimeColumns, ReadOnlyInline):
    model = PaymentAttempt
    # Folded like the attempt list (poll count and next poll in one cell, created over updated), so
    # the inline fits the page at 1,280 px with every date on one line.
    fields = readonly_fields = (
        "status", "payment_method", "psp_payment_id", "psp_version", "failure_code", "refunded", "polls",
        "created_updated",
    )
    ordering = ["-created_at"]

    @admin.display(description="refunded")
    def refunded(self, attempt: PaymentAttempt) -> str:
        return format_html('<span class="nowrap">{}</span>', format_money(attempt.refunded_amount, attempt.currency))

    @admin.display(description="polls · next")
    def polls(self, attempt: PaymentAttempt) -> str:
        return polls_cell(attempt)

    @admin.display(description="created · updated")
    def created_updated(self, attempt: PaymentAttempt) -> str:
        return format_html("{}<br><small>{}</small>", when(attempt.created_at), when(attempt.updated_at))


class RefundInline(DatetimeColumns, ReadOnlyInline):
    model = Refund
    fields = readonly_fields = ("status", "refund_amount", "reason", "psp_refund_id", "failure_code",
                                "requested_by", "created")

    @admin.display(description="amount")
    def refund_amount(self, refund: Refund) -> str:
        return format_html('<span class="nowrap">{}</span>', format_money(refund.amount, refund.currency))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Refund]:
        return super().get_queryset(request).select_related("requested_by")


@admin.register(Checkout)
class CheckoutAdmin(DatetimeColumns, TermSearch, FastListMixin, CsvExportMixin, ReadOnlyAdmin):
    list_display = ["checkout_id", "storefront", "reference", "status", "amount_display", "created", "expires"]
    list_filter = [
        "status", storefront_filter("storefront"), CurrencyFilter, "psp_provider",
        ("created_at", admin.DateFieldListFilter),
    ]
    list_select_related = ["storefront"]
    search_fields = ["reference"]  # shows the box; get_search_results does the searching
    search_help_text = HELP_TEXT
    search_by = {
        "id": lambda term: (
            Q(id=term.text) | Q(id__in=PaymentAttempt.objects.filter(id=term.text).values("checkout_id"))
        ),
        "token": lambda term: Q(psp_token=term.text),
        "payment": lambda term: Q(id__in=PaymentAttempt.objects.filter(psp_payment_id=term.text).values("checkout_id")),
        "refund": lambda term: Q(id__in=Refund.objects.filter(psp_refund_id=term.text).values("checkout_id")),
        "reference": lambda term: reference_prefix(term.text),
    }
    readonly_fields = ("id", "storefront", "reference", "description", "status", "amount_display", "psp_provider",
                       "token_masked", "expires", "api_key", "success_url", "failure_url", "created", "updated")
    fields = readonly_fields
    inlines = [AttemptInline, RefundInline]
    change_form_template = "admin/checkout/checkout/change_form.html"
    change_list_template = "admin/midoffice/change_list.html"
    csv_columns = [
        ("id", lambda c: c.id), ("storefront", lambda c: c.storefront.name), ("reference", lambda c: c.reference),
        ("description", lambda c: c.description),
        ("status", lambda c: c.status), ("amount", lambda c: format_amount(c.amount, c.currency)),
        ("currency", lambda c: c.currency), ("created_at", lambda c: c.created_at.isoformat()),
        ("expires_at", lambda c: c.expires_at.isoformat()),
    ]

    @admin.display(description="checkout", ordering="id")
    def checkout_id(self, checkout: Checkout) -> str:
        return short_id(checkout.id)  # the admin links the first column to the checkout

    @admin.display(description="amount")
    def amount_display(self, checkout: Checkout) -> str:
        return format_money(checkout.amount, checkout.currency)

    @admin.display(description="PSP token")
    def token_masked(self, checkout: Checkout) -> str:
        # The token is the shopper's proof at Buy Now: staff find a checkout by it, never read it.
        return str(redact({"token": checkout.psp_token})["token"])

    def get_urls(self) -> list[URLPattern]:
        refund = self.admin_site.admin_view(lambda r, object_id: admin_views.refund_view(self, r, object_id))
        return [path("<path:object_id>/refund/", refund, name="checkout_checkout_refund"), *super().get_urls()]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        checkout = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if checkout is not None:
            refundable = checkout_refundable(checkout=checkout)
            left = refundable.left if refundable else Decimal(0)
            context.update(
                timeline=checkout_timeline(checkout=checkout),
                latest_attempt=checkout_latest_attempt(checkout=checkout),
                refundable_left=format_money(left, checkout.currency) if left > 0 else "",
            )
        return super().change_view(request, object_id, form_url, context)


@admin.register(ApiKey)
class ApiKeyAdmin(MissingRecordIs404, admin.ModelAdmin):
    list_display = ["name", "storefront", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [storefront_filter("storefront")]
    list_select_related = ["storefront"]
    readonly_fields = ["storefront", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are made with `manage.py create_api_key NAME`, which shows them once

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke the selected API keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset:
            api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)
