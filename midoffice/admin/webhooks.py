"""Webhook events: read-only for everyone; a failed event can be processed again."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from midoffice.admin.base import WIDE_LIST, DatetimeColumns, ReadOnlyAdmin, checkout_link
from midoffice.admin.views import back_to, object_or_404, require_perm
from midoffice.changelists import FastListMixin
from midoffice.search import TermSearch
from midoffice.staff import staff_id
from payments.psp.parse import redact
from paysite.api_errors import ApiError
from webhooks.models import WebhookEvent
from webhooks.staff import event_reprocess

MAX_REPROCESS = 100


@admin.register(WebhookEvent)
class WebhookEventAdmin(DatetimeColumns, TermSearch, FastListMixin, ReadOnlyAdmin):
    # Folded to read at 1,280 px: the event's type under its id, and the outcome with its reason.
    list_display = ["event", "outcome_with_reason", "psp_object_id", "checkout_reference", "received"]
    list_filter = ["outcome", "provider"]
    search_fields = ["event_id"]
    search_help_text = "An event id evt_… or a PSP object id pay_… / re_… (exact)."
    # An event id finds its event; any other term is taken as the PSP object's id, whatever its shape.
    search_by = {
        kind: (lambda term: Q(event_id=term.text)) if kind == "event" else (lambda term: Q(psp_object_id=term.text))
        for kind in ("id", "token", "payment", "refund", "event", "reference")
    }
    list_select_related = ["checkout"]
    readonly_fields = ("event_id", "provider", "type", "outcome", "outcome_detail", "error", "processing_attempts",
                       "psp_object_id", "checkout", "received", "processed", "body_redacted")
    fields = readonly_fields
    actions = ["reprocess"]
    change_list_template = WIDE_LIST
    change_form_template = "admin/webhooks/webhookevent/change_form.html"

    @admin.display(description="event · type", ordering="event_id")
    def event(self, event: WebhookEvent) -> str:
        return format_html("{}<br><small>{}</small>", event.event_id, event.type or "?")

    @admin.display(description="checkout", ordering="checkout__reference")
    def checkout_reference(self, event: WebhookEvent) -> str:
        return checkout_link(event.checkout) if event.checkout else "—"

    @admin.display(description="outcome", ordering="outcome")
    def outcome_with_reason(self, event: WebhookEvent) -> str:
        """"Ignored: already applied (v2)": an event that changed nothing says why."""
        label = event.get_outcome_display()
        return f"{label}: {event.outcome_detail}" if event.outcome_detail else label

    @admin.display(description="body (secrets masked)")
    def body_redacted(self, event: WebhookEvent) -> str:
        if not event.body:
            return "(cleared after the retention period)"
        try:
            return json.dumps(redact(json.loads(event.body)), indent=2, sort_keys=True, ensure_ascii=False)
        except ValueError:
            return "(not JSON; not shown)"

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(require_POST(self.reprocess_view))
        return [path("<path:object_id>/reprocess/", view, name="webhooks_webhookevent_reprocess"),
                *super().get_urls()]

    def reprocess_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        require_perm(request, "webhooks.reprocess_event")
        event = object_or_404(WebhookEvent, object_id)
        try:
            action = event_reprocess(event_pk=event.pk, actor_id=staff_id(request))
        except ApiError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, f"Event {event.event_id}: {action.outcome}.", messages.INFO)
        fallback = reverse("admin:webhooks_webhookevent_change", args=[event.pk])
        return back_to(request, fallback) if request.POST.get("next") else HttpResponseRedirect(fallback)

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("webhooks.reprocess_event")

    @admin.action(description="Process the selected failed events again", permissions=["reprocess"])
    def reprocess(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        failed = list(queryset.filter(outcome=WebhookEvent.Outcome.FAILED).values_list("pk", flat=True)
                      [: MAX_REPROCESS + 1])
        if len(failed) > MAX_REPROCESS:
            self.message_user(request, f"Select at most {MAX_REPROCESS} events at a time.", messages.ERROR)
            return
        outcomes = [event_reprocess(event_pk=pk, actor_id=staff_id(request)).outcome for pk in failed]
        again = sum(1 for outcome in outcomes if outcome.startswith("failed again"))
        self.message_user(request, f"Processed {len(failed)} failed event(s) again: {again} failed again.",
                          messages.WARNING if again else messages.SUCCESS)

