"""The admin site of the mid-office: the dashboard is its first page, and its login is throttled."""

from __future__ import annotations

import math
from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone

from midoffice.dashboard import dashboard_build
from midoffice.login_throttle import (
    login_failure_record,
    login_failures_clear,
    login_wait_seconds,
    remote_addr_of,
)


class ThrottledAuthenticationForm(AdminAuthenticationForm):
    """Refuses to check a password after too many failures for this username from this address."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "throttled": "Too many failed sign-ins for this username from your address. "
                     "Wait %(minutes)s minute(s) and try again.",
    }

    def clean(self) -> dict[str, Any]:
        username = str(self.cleaned_data.get("username") or "")
        remote_addr = remote_addr_of(self.request)
        wait = login_wait_seconds(username=username, remote_addr=remote_addr)
        if wait:
            raise ValidationError(self.error_messages["throttled"], code="throttled",
                                  params={"minutes": math.ceil(wait / 60)})
        try:
            cleaned = super().clean()
        except ValidationError:
            login_failure_record(username=username, remote_addr=remote_addr)
            raise
        login_failures_clear(username=username, remote_addr=remote_addr)
        return cleaned


class PaysiteAdminSite(admin.AdminSite):
    site_header = "paysite mid-office"
    site_title = "paysite mid-office"
    index_title = "Dashboard"
    index_template = "admin/midoffice/index.html"
    login_form = ThrottledAuthenticationForm

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        context = dict(extra_context or {})
        if request.user.has_perm("payments.view_paymentattempt"):
            context["dashboard"] = dashboard_build(now=timezone.now())
        return super().index(request, context)
