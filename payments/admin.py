"""Attempts, refunds, status changes and PSP calls in the mid-office: read-only money and status."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from payments.models import PaymentAttempt, PspCall, Refund, StatusChange


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records nobody may write by hand, superusers included."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StatusChangeInline(ReadOnlyInline):
    model = StatusChange
    fields = readonly_fields = (
        "created_at", "subject", "from_status", "to_status", "cause", "cause_reference", "actor", "note",
    )
    ordering = ["created_at", "id"]
    show_change_link = False


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(ReadOnlyAdmin):
    list_display = ["id", "checkout", "status", "payment_method", "amount", "currency", "psp_payment_id",
                    "created_at"]
    list_filter = ["status", "currency", "payment_method", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=id", "=checkout__id", "=psp_payment_id", "=checkout__psp_token", "checkout__reference"]
    list_select_related = ["checkout"]
    date_hierarchy = None
    readonly_fields = [field.name for field in PaymentAttempt._meta.fields]


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ["id", "checkout", "status", "amount", "currency", "psp_refund_id", "created_at"]
    list_filter = ["status", "currency", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=id", "=checkout__id", "=psp_refund_id"]
    list_select_related = ["checkout"]
    readonly_fields = [field.name for field in Refund._meta.fields]


@admin.register(StatusChange)
class StatusChangeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "checkout", "subject", "from_status", "to_status", "cause", "cause_reference",
                    "actor"]
    list_filter = ["subject", "cause", "to_status"]
    search_fields = ["=checkout__id", "cause_reference"]
    list_select_related = ["checkout", "actor"]


@admin.register(PspCall)
class PspCallAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "method", "path", "status_code", "duration_ms", "error", "checkout_id"]
    list_filter = ["method", "status_code"]
    search_fields = ["=checkout_id", "=attempt_id", "=refund_id", "idempotency_key"]
