"""The admin sign-in lockout: django-axes' database handler with two caps, and one sign-in at a time
per client address.

Axes counts failures per lockout parameter (AXES_LOCKOUT_PARAMETERS: the username-and-address
pair, and the address alone) but compares every count with one AXES_FAILURE_LIMIT. Here the
address alone has its own, higher cap (ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS): a guesser who
spreads guesses over many usernames is stopped, while colleagues behind one office address do not
lock each other out with a few typos.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_failure_limit, get_lockout_parameters
from axes.models import AccessAttempt
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.http import HttpRequest

ADDRESS_ALONE = "ip_address"


class AddressCappedLockoutHandler(AxesDatabaseHandler):
    """Locks a username-and-address pair after AXES_FAILURE_LIMIT failures, and an address after
    ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS failures over all usernames, within AXES_COOLOFF_TIME."""

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        """Failures on axes' one scale: a parameter at its own cap counts as AXES_FAILURE_LIMIT,
        one under it as at most AXES_FAILURE_LIMIT - 1, so that axes' `>= limit` test applies
        each cap to its own count."""
        limit = get_failure_limit(request, credentials)
        worst = 0
        parameters = get_lockout_parameters(request, credentials)
        for parameter, attempts in zip(parameters, self.get_user_attempts(request, credentials), strict=True):
            failures = attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            cap = settings.ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS if parameter == ADDRESS_ALONE else limit
            worst = max(worst, limit if failures >= cap else min(failures, limit - 1))
        return worst

    def reset_user_attempts(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        """A successful sign-in forgives that username's failures from that address only: the
        address's failures for other usernames still count towards its cap."""
        count, _ = AccessAttempt.objects.filter(
            username=get_client_username(request, credentials), ip_address=request.axes_ip_address  # type: ignore[attr-defined]
        ).delete()
        return count


@contextmanager
def one_sign_in_at_a_time(address: str) -> Iterator[None]:
    """A transaction in which no other sign-in from `address` runs, in any process.

    Axes checks the count, then the password is checked, then a failure is counted: without this,
    a burst of parallel guesses would all pass the check before the first failure is written. On
    PostgreSQL a transaction-scoped advisory lock on the address serialises them; SQLite's
    IMMEDIATE transactions (see settings) already take the one write lock up front.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"admin-sign-in:{address}"])
        yield
