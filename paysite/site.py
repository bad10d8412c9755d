"""Absolute URLs of the BPS, from SITE_URL: what the PSP and the storefront are given."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse


def site_url(view_name: str, *args: object) -> str:
    return settings.SITE_URL + reverse(view_name, args=args)
