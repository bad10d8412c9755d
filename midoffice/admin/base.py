"""What every mid-office admin class shares: no hand-written rows, 404 for a missing record, the one
datetime format for columns, and the cells several lists show (money, checkout link, polls)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import Http404, HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from midoffice.formats import short_id, when, when_column
from payments.models import PaymentAttempt


class NoWrites:
    """Nobody may add, change or delete these rows by hand, superusers included."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MissingRecordIs404:
    """An unknown or malformed id in a record's URL is a 404, where Django redirects home."""

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        found = super().get_object(request, object_id, from_field)  # type: ignore[misc]
        if found is None:
            raise Http404("No such record.")
        return found


class ReadOnlyAdmin(MissingRecordIs404, NoWrites, admin.ModelAdmin):
    """For records nobody may write by hand, superusers included."""


class ReadOnlyInline(NoWrites, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True


def checkout_link(checkout: Any) -> str:
    url = reverse("admin:checkout_checkout_change", args=[checkout.id])
    if checkout.reference:
        return format_html('<a href="{}" title="{}">{}</a>', url, checkout.id, checkout.reference)
    return short_id(checkout.id, url)


def polls_cell(attempt: PaymentAttempt) -> str:
    """How often the attempt was polled, and (below, small) when it is polled next."""
    if attempt.next_poll_at is None:
        return str(attempt.poll_count)
    return format_html('{}<br><small>next {}</small>', attempt.poll_count, when(attempt.next_poll_at))


# A list without the navigation column (the CSV-exporting lists use admin/midoffice/change_list.html).
WIDE_LIST = "admin/midoffice/wide_change_list.html"


# Datetime columns as the mid-office writes them everywhere (midoffice/formats.py).
DATETIME_COLUMNS = {"created_at": "created", "updated_at": "updated", "next_poll_at": "next_poll",
                    "expires_at": "expires", "processed_at": "processed", "received_at": "received",
                    "next_attempt_at": "next_try", "last_attempt_at": "last_try", "delivered_at": "delivered"}


def row_fields(model: Any, **shown_as: str) -> tuple[str, ...]:
    """Every field of `model` for its read-only page, datetimes (and any `shown_as`) by their display."""
    names = {**DATETIME_COLUMNS, **shown_as}
    return tuple(names.get(field.name, field.name) for field in model._meta.fields)


class DatetimeColumns:
    """`created`, `updated`, … for the model's `created_at`, `updated_at`, …, in the one format."""

    created = when_column("created_at")
    updated = when_column("updated_at")
    next_poll = when_column("next_poll_at", "next poll")
    expires = when_column("expires_at")
    processed = when_column("processed_at")
    received = when_column("received_at")
    next_try = when_column("next_attempt_at", "next try")
    last_try = when_column("last_attempt_at", "last try")
    delivered = when_column("delivered_at")
