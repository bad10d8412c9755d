"""The admin site of the mid-office: the dashboard is its first page, and its sign-in is locked out
after repeated failures (django-axes, see midoffice/login_lockout.py)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone

from midoffice.dashboard import dashboard_build
from midoffice.login_lockout import one_sign_in_at_a_time
from paysite.proxy import client_address


class SerializedAuthenticationForm(AdminAuthenticationForm):
    """Django's admin sign-in, checked one at a time per client address, so that axes' count of
    failures is up to date when the next sign-in from that address is checked."""

    def clean(self) -> dict[str, Any]:
        refused: ValidationError | None = None
        with one_sign_in_at_a_time(client_address(self.request) if self.request else ""):
            try:
                cleaned = super().clean()
            except ValidationError as error:
                # Raised outside the transaction: the failure axes just counted must be committed.
                refused = error
        if refused is not None:
            raise refused
        return cleaned


class PaysiteAdminSite(admin.AdminSite):
    site_header = "paysite mid-office"
    site_title = "paysite mid-office"
    index_title = "Dashboard"
    index_template = "admin/midoffice/index.html"
    login_form = SerializedAuthenticationForm
    # Django's navigation column takes a third of a 1,280 px screen and pushed the checkout's
    # timeline below it; the breadcrumbs and the dashboard lead to every list instead.
    enable_nav_sidebar = False

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        context = dict(extra_context or {})
        if request.user.has_perm("payments.view_paymentattempt"):
            context["dashboard"] = dashboard_build(now=timezone.now())
        return super().index(request, context)
