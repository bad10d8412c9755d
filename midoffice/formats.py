"""How the mid-office writes a moment and a long id, the same way on every page.

Django's admin writes datetimes as "Nov. 30, 2026, 5:07 a.m." (no seconds, wrapped onto several
lines in a narrow column) while a timeline needs seconds: every datetime staff read is
"2026-11-30 05:07:54" instead, never wrapped. A UUID is shown by its first 8 characters, with
the whole id in its title (and in the search box, which finds it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib import admin
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString

WHEN_FORMAT = "Y-m-d H:i:s"
EMPTY = "—"


def when(value: datetime | None, *, milliseconds: bool = False) -> SafeString | str:
    if value is None:
        return EMPTY
    local = timezone.localtime(value)
    text = date_format(local, WHEN_FORMAT)
    if milliseconds:
        return format_html('<span class="when">{}<small>.{}</small></span>', text, f"{local.microsecond // 1000:03d}")
    return format_html('<span class="when">{}</span>', text)


def when_column(field: str, description: str | None = None) -> Callable[[Any, Any], SafeString | str]:
    """A ModelAdmin/inline method showing the datetime `field` as `when` does, sortable by it."""

    @admin.display(description=description or field.removesuffix("_at").replace("_", " "), ordering=field)
    def column(model_admin: Any, row: Any) -> SafeString | str:
        return when(getattr(row, field))

    return column


def short_id(value: object, url: str = "") -> SafeString:
    """`6f1c2a3b…` with the whole id in the title; a link to `url` when given."""
    full = str(value)
    if url:
        return format_html('<a href="{}" class="short-id" title="{}">{}</a>', url, full, full[:8])
    return format_html('<span class="short-id" title="{}">{}</span>', full, full[:8])
