"""Checkouts and API keys in the mid-office. Money, status and PSP fields are read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from checkout.api_keys import api_key_revoke
from checkout.models import ApiKey, Checkout
from payments.admin import ReadOnlyInline, StatusChangeInline
from payments.models import PaymentAttempt, Refund


class AttemptInline(ReadOnlyInline):
    model = PaymentAttempt
    fields = readonly_fields = (
        "id", "status", "payment_method", "psp_payment_id", "psp_version", "failure_code", "refunded_amount",
        "created_at", "updated_at",
    )
    ordering = ["-created_at"]


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = readonly_fields = ("id", "status", "amount", "reason", "psp_refund_id", "failure_code", "created_at")


@admin.register(Checkout)
class CheckoutAdmin(admin.ModelAdmin):
    list_display = ["id", "reference", "status", "amount", "currency", "created_at", "expires_at"]
    list_filter = ["status", "currency", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=id", "=psp_token", "=attempts__psp_payment_id", "reference"]
    readonly_fields = ["id", "amount", "currency", "status", "psp_token", "expires_at", "api_key", "created_at",
                       "updated_at", "description", "reference", "success_url", "failure_url"]
    inlines = [AttemptInline, RefundInline, StatusChangeInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # checkouts start at the PSP, through the API or the storefront

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
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
