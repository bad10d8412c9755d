"""The configured PSP client, one per process and configuration, and the record of its calls.

Every exchange with the PSP (each try of each request) is kept as a PspCall row. Where a call's
answer is applied by a transaction that follows it, the row is written in that transaction
instead of committing on its own, so it costs no commit of its own:

- a service opens `psp_calls_held()` around its PSP call(s) and the transaction that applies the
  answer; while it is open, the observer holds the records (in memory, per thread of control);
- that transaction is opened with `atomic_with_psp_calls()`, which writes the held records as its
  first statement (one INSERT for all of them): they commit with the answer's change;
- whatever is still held when `psp_calls_held()` ends (the PSP could not be reached, the answer
  needed no transaction, the transaction rolled back or failed to commit) is written then, in
  autocommit, as before.

So in every path that returns or raises, every exchange is recorded exactly once. What is lost is
the record of the exchanges of a block whose process dies before the block ends: that is the
whole block, every try of its requests included (up to PSP_MAX_ATTEMPTS tries of 2 PSP_TIMEOUTs and the
backoff per request, and a sync may make two requests), not only the moment after the answer. The
answer is lost with it, the attempt or refund stays as it was (due for a poll), and the poll that
learns the outcome is recorded in its turn; money is never at stake, only the trail of those tries.
Outside a `psp_calls_held()` block each record commits at once, as it always did.

A record can never cost the payment its change: the held records are written in a savepoint of
their own, and if the database refuses them they are logged and left to be written (or dropped)
on their own when the block ends. Text the database cannot store (NUL characters, which a PSP's
answer may carry) is removed from a record before it is kept.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, transaction

from payments.models import PspCall
from payments.psp.generic import HttpPspClient
from payments.psp.interface import PspClient
from payments.psp.stripe import StripePsp
from payments.psp.types import CallRecord

logger = logging.getLogger(__name__)

T = TypeVar("T")

_clients: dict[tuple[object, ...], PspClient] = {}
_held: ContextVar[list[PspCall] | None] = ContextVar("held_psp_calls", default=None)


class InsideTransaction(RuntimeError):
    """A service tried to call the PSP while a transaction was open: it would hold its locks (and
    the rows it wrote, uncommitted) for the whole HTTP call, tries and backoff included."""


def refuse_outer_transaction() -> None:
    """What `transaction.atomic(durable=True)` checks, without opening a transaction (or, under a
    test's own transaction, a savepoint): a test case's transaction is allowed, any other is not."""
    if _inside_outer_transaction():
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
    """Keep one exchange with the PSP for the payment's timeline (the PSP client's observer):
    held for the transaction that applies its answer inside `psp_calls_held()`, else written now."""
    row = PspCall(
        method=record.method, path=_storable(record.path)[:255], idempotency_key=_storable(record.idempotency_key),
        status_code=record.status_code, duration_ms=record.duration_ms, request_body=_storable(record.request_body),
        response_body=_storable(record.response_body), error=_storable(record.error)[:500],
        checkout_id=_uuid_or_none(record.context.get("checkout_id")),
        attempt_id=_uuid_or_none(record.context.get("attempt_id")),
        refund_id=_uuid_or_none(record.context.get("refund_id")), cause=record.context.get("cause", "")[:255],
    )
    held = _held.get()
    if held is not None:
        held.append(row)
    else:
        row.save(force_insert=True)


@contextmanager
def psp_calls_held() -> Iterator[None]:
    """Hold the records of the PSP calls made in this block for `atomic_with_psp_calls`, and write
    what is still held when the block ends, however it ends (see the module's docstring). Nested
    blocks share the outermost one's records."""
    if _held.get() is not None:
        yield
        return
    held: list[PspCall] = []
    token = _held.set(held)
    try:
        yield
    finally:
        _held.reset(token)
        _write_left_over(held)


@contextmanager
def atomic_with_psp_calls() -> Iterator[None]:
    """`transaction.atomic()` whose first statement writes the PSP call records held by the
    enclosing `psp_calls_held()`, so that they commit with what the block changes. If the block
    raises (or the commit fails), they are held again, for `psp_calls_held()` to write on its own.
    Records are taken only by a transaction of our own: inside someone else's (which could still
    roll back after this block), they stay held."""
    held = _held.get()
    taken: list[PspCall] = []
    if held and not _inside_outer_transaction():
        taken = held[:]
        held.clear()
    try:
        with transaction.atomic():
            if held is not None and taken and not _written_in_savepoint(taken):
                held[:0] = _fresh(taken)  # refused: written (or dropped, logged) when the block ends
                taken = []
            yield
    except BaseException:
        if held is not None and taken:
            held[:0] = _fresh(taken)  # rolled back with the block: to be written again
        raise


def _written_in_savepoint(rows: list[PspCall]) -> bool:
    try:
        with transaction.atomic():
            PspCall.objects.bulk_create(rows)
    except DatabaseError:
        logger.exception("could not record %d PSP call(s) with their answer's change", len(rows))
        return False
    return True


def _fresh(rows: list[PspCall]) -> list[PspCall]:
    for row in rows:
        row.pk, row._state.adding = None, True
    return rows


def _storable(value: T) -> T:
    """The value without NUL characters, which PostgreSQL's text and jsonb refuse."""
    if isinstance(value, str):
        return value.replace("\x00", "")  # type: ignore[return-value]
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}  # type: ignore[return-value]
    if isinstance(value, list):
        return [_storable(item) for item in value]  # type: ignore[return-value]
    return value


def _write_left_over(rows: list[PspCall]) -> None:
    if not rows:
        return
    try:
        PspCall.objects.bulk_create(rows)
    except Exception:
        # The timeline is for people; it must never break a payment (nor hide what raised here).
        logger.exception("could not record %d PSP call(s)", len(rows))


def _inside_outer_transaction() -> bool:
    blocks = transaction.get_connection().atomic_blocks
    return bool(blocks) and not getattr(blocks[-1], "_from_testcase", False)


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None
