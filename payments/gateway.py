"""The configured PSP client, one per process and configuration, and the record of its calls."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from payments.models import PspCall
from payments.psp.generic import HttpPspClient
from payments.psp.interface import PspClient
from payments.psp.stripe import StripePsp
from payments.psp.types import CallRecord

_clients: dict[tuple[object, ...], PspClient] = {}


class InsideTransaction(RuntimeError):
    """A service tried to call the PSP while a transaction was open: it would hold its locks (and
    the rows it wrote, uncommitted) for the whole HTTP call, tries and backoff included."""


def refuse_outer_transaction() -> None:
    """What `transaction.atomic(durable=True)` checks, without opening a transaction (or, under a
    test's own transaction, a savepoint): a test case's transaction is allowed, any other is not."""
    blocks = transaction.get_connection().atomic_blocks
    if blocks and not getattr(blocks[-1], "_from_testcase", False):
        raise InsideTransaction("The PSP is called only outside a transaction; commit first.")


def longest_psp_request() -> timedelta:
    """One request to the PSP at its longest: every try may wait its connect timeout and then its
    read timeout (both PSP_TIMEOUT), with the backoff between tries."""
    tries = settings.PSP_MAX_ATTEMPTS
    backoff = settings.PSP_RETRY_BACKOFF * (2 ** max(tries - 1, 0) - 1)  # b, 2b, 4b … between tries
    return timedelta(seconds=tries * 2 * settings.PSP_TIMEOUT + backoff)


def psp() -> PspClient:
    """The PSP of the settings (`PSP_PROVIDER`), for a call made now: every service reaches the
    PSP through here, so none can call it from inside a transaction (`refuse_outer_transaction`).
    Pooled connections are per process: a forked Celery worker builds its own instead of sharing
    its parent's sockets."""
    refuse_outer_transaction()
    return _configured()


def psp_accepts(payment_method: str) -> bool:
    """Whether the configured PSP takes this payment method at all (no call is made)."""
    return _configured().accepts_payment_method(payment_method)


def _configured() -> PspClient:
    key = (os.getpid(), settings.PSP_PROVIDER, settings.PSP_BASE_URL, settings.PSP_API_KEY, settings.STRIPE_SECRET_KEY,
           settings.STRIPE_API_BASE, settings.PSP_TIMEOUT, settings.PSP_MAX_ATTEMPTS, settings.PSP_RETRY_BACKOFF,
           tuple(settings.PSP_PAYMENT_METHODS))
    if key not in _clients:
        _clients[key] = _client()
    return _clients[key]


def _client() -> PspClient:
    if settings.PSP_PROVIDER == "stripe":
        return StripePsp(
            secret_key=settings.STRIPE_SECRET_KEY, api_base=settings.STRIPE_API_BASE, timeout=settings.PSP_TIMEOUT,
            max_attempts=settings.PSP_MAX_ATTEMPTS, backoff=settings.PSP_RETRY_BACKOFF, observer=record_psp_call,
        )
    return HttpPspClient(
        base_url=settings.PSP_BASE_URL, api_key=settings.PSP_API_KEY, timeout=settings.PSP_TIMEOUT,
        max_attempts=settings.PSP_MAX_ATTEMPTS, backoff=settings.PSP_RETRY_BACKOFF, observer=record_psp_call,
        payment_methods=frozenset(settings.PSP_PAYMENT_METHODS),
    )


def record_psp_call(record: CallRecord) -> None:
    """Keep one exchange with the PSP for the payment's timeline."""
    PspCall.objects.create(
        method=record.method, path=record.path[:255], idempotency_key=record.idempotency_key,
        status_code=record.status_code, duration_ms=record.duration_ms, request_body=record.request_body,
        response_body=record.response_body, error=record.error[:500],
        checkout_id=_uuid_or_none(record.context.get("checkout_id")),
        attempt_id=_uuid_or_none(record.context.get("attempt_id")),
        refund_id=_uuid_or_none(record.context.get("refund_id")), cause=record.context.get("cause", "")[:255],
    )


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None
