"""Idempotency-Key for the storefront's POSTs, with the semantics of docs/psp-protocol.md.

The same key with the same body replays the first answer (plus `Idempotent-Replayed: true`);
another body is 422 `idempotency_key_reused`; a key whose first request is still running is
409 `idempotency_key_in_use`. Keys are per storefront: two storefronts' equal keys are two keys.

The key decides the identity of what the request creates: its first claim, committed before any
work, holds the id that the new checkout or refund will carry (`resource_id`). A request that
crashed, timed out or answered 5xx leaves its claim in place, and the next request with the key
resumes that same row (as in Stripe's recovery points) instead of making a second one. A claim
held longer than IDEMPOTENCY_TAKEOVER_AFTER belongs to a request that died, and may be taken over.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from checkout.api_keys import caller_storefront
from checkout.models import IdempotencyRecord, Storefront
from paysite.api_errors import ApiError, Conflict, Unprocessable

HEADER = "Idempotency-Key"
_VALID_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")
KEEP_FOR = timedelta(hours=24)
_State = IdempotencyRecord.State


def _fingerprint(request: Request) -> str:
    try:
        body: Any = json.loads(request.body or b"null")
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = request.body
    head = f"{request.method} {request.path}\n".encode()
    return hashlib.sha256(head + canonical).hexdigest()


class _Claim(NamedTuple):
    record: IdempotencyRecord
    resumable: bool  # an earlier request held the key: it may have made the resource already


def _claim(storefront: Storefront, key: str, fingerprint: str) -> _Claim | Response:
    """Take the key for this request, or return the answer owed instead of running it."""
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(storefront=storefront, key=key, fingerprint=fingerprint)
        return _Claim(record, resumable=False)  # its resource id was drawn just now: nothing has it yet
    except IntegrityError:
        pass
    with transaction.atomic():
        record = IdempotencyRecord.objects.select_for_update().get(storefront=storefront, key=key)
        if record.fingerprint != fingerprint:
            raise Unprocessable("This Idempotency-Key was used with another request.", code="idempotency_key_reused")
        if record.state == _State.DONE:
            replay = Response(record.response_body, status=record.response_status)
            replay["Idempotent-Replayed"] = "true"
            return replay
        held_for = timezone.now() - record.updated_at
        if record.state == _State.IN_PROGRESS and held_for < timedelta(seconds=settings.IDEMPOTENCY_TAKEOVER_AFTER):
            raise Conflict("A request with this Idempotency-Key is still in progress.", code="idempotency_key_in_use")
        # The last request failed or died: this one resumes the same resource.
        record.state = _State.IN_PROGRESS
        record.save(update_fields=["state", "updated_at"])
        return _Claim(record, resumable=True)


def _finish(record: IdempotencyRecord, response: Response) -> None:
    if response.status_code >= 500:
        record.state = _State.RETRYABLE  # no answer worth replaying; the claim and its resource id stay
        record.save(update_fields=["state", "updated_at"])
        return
    record.state = _State.DONE
    record.response_status = response.status_code
    record.response_body = json.loads(JSONRenderer().render(response.data))
    record.save(update_fields=["state", "response_status", "response_body", "updated_at"])


def idempotent(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Decorate a DRF view method so that its POSTs honour an Idempotency-Key.

    The handler receives `resource_id`: the id to give what it creates. With a key it is the
    key's own (the same on every retry, so the handler must resume a row of that id if one
    exists); without one it is new for each request. And `resumable`: whether an earlier request
    may have made a row of that id already; False when the id was drawn for this request (no key,
    or the key's first claim), so the handler need not look for one before starting.
    """

    @functools.wraps(handler)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, resource_id=uuid.uuid4(), resumable=False, **kwargs)
        if not _VALID_KEY.match(key):
            raise ApiError("Idempotency-Key must be 1 to 255 printable ASCII characters.")
        claimed = _claim(caller_storefront(request), key, _fingerprint(request))
        if isinstance(claimed, Response):
            return claimed
        record = claimed.record
        try:
            response = handler(
                view, request, *args, resource_id=record.resource_id, resumable=claimed.resumable, **kwargs
            )
        except Exception as exc:
            if getattr(exc, "status_code", 500) >= 500:
                _finish(record, Response(status=500))
                raise
            response = view.handle_exception(exc)  # a refusal is a real answer: keep it
        _finish(record, response)
        return response

    return wrapper


def idempotency_records_prune() -> int:
    """Forget keys older than 24 hours, as the PSP does."""
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - KEEP_FOR).delete()
    return deleted
