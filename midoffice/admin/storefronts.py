"""Storefronts in the mid-office, with their notifications: the endpoint's URL, whether it is
enabled, failing or disabled, its secret's age (never the secret), what waits and what was given
up, and the operators' "Send a test event" and "Enable again". The events are in the delivery
log (midoffice/admin/notifications.py)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from checkout.models import Storefront
from midoffice.admin.base import DatetimeColumns, ReadOnlyAdmin
from midoffice.admin.notifications import SEND_PERMISSION
from midoffice.admin.views import object_or_404, require_perm
from midoffice.formats import EMPTY, when
from midoffice.staff import staff_id
from payments.models import NotificationEndpoint
from payments.selectors import storefront_endpoint_backlog
from payments.staff import storefront_endpoint_enable, storefront_test_event_send
from paysite.api_errors import ApiError


def endpoint_state(endpoint: NotificationEndpoint) -> SafeString:
    """"disabled since …", "failing since …" or "enabled", as a badge."""
    if endpoint.disabled_at:
        return format_html('<span class="badge s-failed">disabled</span> <small>since {}</small>',
                           when(endpoint.disabled_at))
    if endpoint.failing_since:
        return format_html('<span class="badge s-pending">failing</span> <small>since {}</small>',
                           when(endpoint.failing_since))
    return format_html('<span class="badge s-succeeded">{}</span>', "enabled")


def delivery_log_url(storefront_id: int, delivery: str = "") -> str:
    query = f"?storefront={storefront_id}" + (f"&delivery={delivery}" if delivery else "")
    return reverse("admin:payments_storefrontevent_changelist") + query


@admin.register(Storefront)
class StorefrontAdmin(DatetimeColumns, ReadOnlyAdmin):
    """The shops selling through us; made by `manage.py create_api_key NAME`, their notifications
    pointed somewhere by `manage.py storefront_webhook NAME URL`."""

    list_display = ["name", "notifications", "created"]
    list_select_related = ["notification_endpoint"]
    readonly_fields = fields = ("name", "created")
    search_fields = ["name"]
    change_form_template = "admin/checkout/storefront/change_form.html"

    @admin.display(description="notifications")
    def notifications(self, storefront: Storefront) -> str:
        endpoint = getattr(storefront, "notification_endpoint", None)
        if endpoint is None:
            return EMPTY
        return format_html("{}<br><small>{}</small>", endpoint_state(endpoint), endpoint.url)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        storefront = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if storefront is not None and request.user.has_perm("payments.view_notificationendpoint"):
            now = timezone.now()
            backlog = storefront_endpoint_backlog(storefront_id=storefront.pk)
            endpoint = backlog.endpoint if backlog else None
            context.update(
                notifications=True, backlog=backlog, endpoint=endpoint,
                state=endpoint_state(endpoint) if endpoint else "",
                secret_age=now - endpoint.secret_created_at if endpoint else None,
                rotating_until=endpoint.previous_secret_until if endpoint and endpoint.previous_secret_until and (
                    endpoint.previous_secret_until > now) else None,
                disable_after=settings.NOTIFY_DISABLE_AFTER, log_url=delivery_log_url(storefront.pk),
                waiting_url=delivery_log_url(storefront.pk, "pending"),
                given_up_url=delivery_log_url(storefront.pk, "given_up"),
            )
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/send-test-event/", view(require_POST(self.send_test_view)),
                 name="checkout_storefront_send_test_event"),
            path("<path:object_id>/enable-notifications/", view(require_POST(self.enable_view)),
                 name="checkout_storefront_enable_notifications"),
            *super().get_urls(),
        ]

    def send_test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        require_perm(request, SEND_PERMISSION)
        storefront = object_or_404(Storefront, object_id)
        try:
            action = storefront_test_event_send(storefront_id=storefront.pk, actor_id=staff_id(request))
        except ApiError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, f"Sent a test event ({action.outcome}); the delivery log shows what came of it.",
                              messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:checkout_storefront_change", args=[storefront.pk]))

    def enable_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        require_perm(request, SEND_PERMISSION)
        storefront = object_or_404(Storefront, object_id)
        try:
            action = storefront_endpoint_enable(storefront_id=storefront.pk, actor_id=staff_id(request))
        except ApiError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            if action is None:
                self.message_user(request, "Notifications to this storefront were not disabled.", messages.INFO)
            else:
                self.message_user(request, f"Notifications enabled again ({action.outcome}): the events that "
                                  "waited go out now, oldest first. Given-up events go only if sent again.",
                                  messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:checkout_storefront_change", args=[storefront.pk]))
