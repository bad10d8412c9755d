"""Webhook events and refusals: read-only for everyone."""

from __future__ import annotations

from django.contrib import admin

from payments.admin import ReadOnlyAdmin
from webhooks.models import WebhookEvent, WebhookRefusal


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "type", "outcome", "psp_object_id", "checkout", "received_at", "processed_at"]
    list_filter = ["outcome", "type"]
    search_fields = ["=event_id", "=psp_object_id", "=checkout__id"]
    list_select_related = ["checkout"]


@admin.register(WebhookRefusal)
class WebhookRefusalAdmin(ReadOnlyAdmin):
    list_display = ["hour", "reason", "count", "last_seen_at", "last_remote_addr"]
    list_filter = ["reason"]
