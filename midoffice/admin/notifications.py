"""The delivery log of storefront notifications: every event of the outbox, what its endpoint last
answered and when it is tried next. Read-only for everyone; operators send one event or a
selection again (payments/staff.py), which the delivery worker then POSTs anew."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.views.decorators.http import require_POST

from midoffice.admin.base import WIDE_LIST, DatetimeColumns, ReadOnlyAdmin, checkout_link
from midoffice.admin.views import object_or_404, require_perm
from midoffice.changelists import FastListMixin, fixed_filter, storefront_filter
from midoffice.formats import EMPTY
from midoffice.search import TermSearch, reference_prefix
from midoffice.staff import staff_id
from payments.models import StorefrontEvent
from payments.outbox import EVENT_TYPES
from payments.psp.parse import redact
from payments.staff import SentAgain, storefront_events_send_again

# One UPDATE and one bulk insert however many: the cap only keeps a stray "select all" in check.
MAX_SEND_AGAIN = 1000
SEND_PERMISSION = "payments.send_notifications"


# "Pending", "Given up": each state's label as a badge and a filter write it.
DELIVERY_LABELS = {value: label[:1].upper() + label[1:] for value, label in StorefrontEvent.Delivery.choices}


def delivery_badge(event: StorefrontEvent) -> SafeString:
    return format_html('<span class="badge s-{}">{}</span>', event.delivery, DELIVERY_LABELS[event.delivery])


def sent_again_message(sent: SentAgain, selected: int) -> tuple[str, int]:
    """What staff read after "send again", and its level."""
    text = f"{len(sent.actions)} event(s) will be sent again, oldest first."
    if sent.waiting:
        text += f" {sent.waiting} of them wait: their storefront's notifications are disabled (enable them again)."
    if selected > len(sent.actions):
        text += f" {selected - len(sent.actions)} not sent: their storefront has no notification URL."
    return text, messages.WARNING if sent.waiting or selected > len(sent.actions) else messages.SUCCESS


@admin.register(StorefrontEvent)
class StorefrontEventAdmin(DatetimeColumns, TermSearch, FastListMixin, ReadOnlyAdmin):
    # Folded to read at 1,280 px beside the filters: the type under the event id, the sequence under
    # the checkout, the attempts under the delivery, the answer's excerpt under its status code.
    list_display = ["event", "storefront", "checkout_and_sequence", "delivery_and_attempts", "last_answer_cell",
                    "next_try", "created"]
    list_filter = [storefront_filter("storefront"),
                   fixed_filter("delivery", "delivery", list(DELIVERY_LABELS), labels=DELIVERY_LABELS),
                   fixed_filter("type", "type", [*EVENT_TYPES, "test.ping"])]
    list_select_related = ["storefront", "checkout"]
    search_fields = ["public_id"]  # shows the box; get_search_results does the searching
    search_help_text = "An event id evt_… or a checkout id (exact), or the start of the shop's reference."
    search_by = {
        "event": lambda term: Q(public_id=term.text),
        "id": lambda term: Q(checkout_id=term.id),
        "reference": lambda term: reference_prefix(term.text, "checkout__reference"),
    }
    readonly_fields = (
        "public_id", "type", "storefront", "checkout_cell", "sequence", "created", "delivery_status", "attempts",
        "last_try", "last_status_code", "last_answer", "last_error", "next_try", "delivered", "body_shown",
    )
    fields = readonly_fields
    actions = ["send_again"]
    change_list_template = WIDE_LIST
    change_form_template = "admin/payments/storefrontevent/change_form.html"

    @admin.display(description="event · type", ordering="id")
    def event(self, event: StorefrontEvent) -> str:
        return format_html("{}<br><small>{}</small>", event.public_id, event.type)

    @admin.display(description="checkout · sequence", ordering="checkout__reference")
    def checkout_and_sequence(self, event: StorefrontEvent) -> str:
        if event.checkout is None:
            return format_html("{}<br><small>a test</small>", EMPTY)
        return format_html("{}<br><small>#{}</small>", checkout_link(event.checkout), event.sequence)

    @admin.display(description="delivery · attempts", ordering="delivery")
    def delivery_and_attempts(self, event: StorefrontEvent) -> str:
        tries = f"{event.attempts} {'try' if event.attempts == 1 else 'tries'}"
        return format_html("{}<br><small>{}</small>", delivery_badge(event), tries)

    @admin.display(description="checkout")
    def checkout_cell(self, event: StorefrontEvent) -> str:
        return checkout_link(event.checkout) if event.checkout else "— (a test event)"

    @admin.display(description="delivery", ordering="delivery")
    def delivery_status(self, event: StorefrontEvent) -> str:
        return delivery_badge(event)

    @admin.display(description="last answer", ordering="last_status_code")
    def last_answer_cell(self, event: StorefrontEvent) -> str:
        """The status code (or "no answer"), and below it the start of what came back or went wrong."""
        if event.last_attempt_at is None:
            return EMPTY
        excerpt = event.last_answer or event.last_error
        code = str(event.last_status_code) if event.last_status_code else "no answer"
        if not excerpt:
            return code
        return format_html('{}<br><small title="{}">{}</small>', code, excerpt, Truncator(excerpt).chars(48))

    @admin.display(description="body (session token masked)")
    def body_shown(self, event: StorefrontEvent) -> str:
        # The checkout's token is the shopper's proof at Buy Now: staff never read it, here neither.
        # Keys sorted, as on the webhook events' pages (the stored JSON keeps no order of its own).
        body = json.dumps(redact(event.body), indent=2, sort_keys=True, ensure_ascii=False)
        return format_html('<pre class="json">{}</pre>', body)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        context = {"title": "Storefront notifications: the delivery log", **(extra_context or {})}
        return super().changelist_view(request, context)  # type: ignore[return-value]

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(require_POST(self.send_again_view))
        return [path("<path:object_id>/send-again/", view, name="payments_storefrontevent_send_again"),
                *super().get_urls()]

    def send_again_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        require_perm(request, SEND_PERMISSION)
        event = object_or_404(StorefrontEvent, object_id)
        sent = storefront_events_send_again(event_pks=[event.pk], actor_id=staff_id(request))
        text, level = sent_again_message(sent, 1)
        self.message_user(request, text, level)
        return HttpResponseRedirect(reverse("admin:payments_storefrontevent_change", args=[event.pk]))

    def has_send_again_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(SEND_PERMISSION)

    @admin.action(description="Send the selected events again", permissions=["send_again"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[StorefrontEvent]) -> None:
        pks = list(queryset.values_list("pk", flat=True)[: MAX_SEND_AGAIN + 1])
        if len(pks) > MAX_SEND_AGAIN:
            self.message_user(request, f"Select at most {MAX_SEND_AGAIN} events at a time.", messages.ERROR)
            return
        sent = storefront_events_send_again(event_pks=pks, actor_id=staff_id(request))
        text, level = sent_again_message(sent, len(pks))
        self.message_user(request, text, level)
