"""Admin sign-in throttling: at most ADMIN_LOGIN_MAX_FAILURES failures per username and address
within ADMIN_LOGIN_WINDOW seconds; after that the form refuses to even check the password.

Counted per username *and* address, so a guesser cannot lock a colleague out from elsewhere,
and kept in the database, so that every web process counts the same failures.
"""

from __future__ import annotations

import math
from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from midoffice.models import LoginFailure


def _window() -> timedelta:
    return timedelta(seconds=settings.ADMIN_LOGIN_WINDOW)


def _key(username: str) -> str:
    return username.strip().lower()[:150]


def remote_addr_of(request: HttpRequest | None) -> str:
    # REMOTE_ADDR only: a client chooses X-Forwarded-For, so it would let a guesser pick its bucket.
    return str(request.META.get("REMOTE_ADDR", "")) if request is not None else ""


def login_wait_seconds(*, username: str, remote_addr: str) -> int:
    """0 if a sign-in may be tried now; otherwise how long until the oldest counted failure expires."""
    since = timezone.now() - _window()
    failures = list(
        LoginFailure.objects.filter(username=_key(username), remote_addr=remote_addr, created_at__gt=since)
        .order_by("-created_at").values_list("created_at", flat=True)[: settings.ADMIN_LOGIN_MAX_FAILURES]
    )
    if len(failures) < settings.ADMIN_LOGIN_MAX_FAILURES:
        return 0
    unblocks_at = failures[-1] + _window()
    return max(1, math.ceil((unblocks_at - timezone.now()).total_seconds()))


def login_failure_record(*, username: str, remote_addr: str) -> None:
    """Count one failed sign-in, and forget those that no longer count (so the table stays small)."""
    LoginFailure.objects.filter(created_at__lt=timezone.now() - _window()).delete()
    LoginFailure.objects.create(username=_key(username), remote_addr=remote_addr[:64])


def login_failures_clear(*, username: str, remote_addr: str) -> None:
    """A successful sign-in wipes the slate for that username and address."""
    LoginFailure.objects.filter(username=_key(username), remote_addr=remote_addr).delete()
