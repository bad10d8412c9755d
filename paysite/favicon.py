"""`/favicon.ico`: browsers ask for it on every site whatever the pages link to, and a 404 there
would log a warning for every page view. It answers with the static SVG the pages link to."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

ICON = Path(__file__).resolve().parent.parent / "static" / "favicon.svg"


@cache
def _icon() -> bytes:
    return ICON.read_bytes()


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(_icon(), content_type="image/svg+xml")
    response["Cache-Control"] = "public, max-age=86400"
    return response
