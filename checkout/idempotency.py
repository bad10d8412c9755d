"""Idempotency-Key for the storefront's POSTs, with the semantics of psp-api.md.

The same key with the same body replays the first answer (plus `Idempotent-Replayed: true`);
another body is 422 `idempotency_key_reused`; a key whose first request is still running is
409 `idempotency_key_in_use`. A request that crashed or answered 5xx is not kept, so its
retry runs afresh; a claim older than STALE_AFTER is taken over (its process died).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from checkout.api_keys import caller_api_key
from checkout.models import ApiKey, IdempotencyRecord
from paysite.api_errors import ApiError, Conflict, Unprocessable

HEADER = "Idempotency-Key"
_VALID_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")
STALE_AFTER = timedelta(minutes=5)
KEEP_FOR = timedelta(hours=24)


def _fingerprint(request: Request) -> str:
    try:
        body: Any = json.loads(request.body or b"null")
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = request.body
    head = f"{request.method} {request.path}\n".encode()
    return hashlib.sha256(head + canonical).hexdigest()


def _claim(api_key: ApiKey, key: str, fingerprint: str) -> IdempotencyRecord | Response:
    """Take the key for this request, or return the answer owed instead of running it."""
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(api_key=api_key, key=key, fingerprint=fingerprint)
    except IntegrityError:
        pass
    with transaction.atomic():
        record = IdempotencyRecord.objects.select_for_update().get(api_key=api_key, key=key)
        if record.fingerprint != fingerprint:
            raise Unprocessable("This Idempotency-Key was used with another request.", code="idempotency_key_reused")
        if record.state == IdempotencyRecord.State.DONE:
            replay = Response(record.response_body, status=record.response_status)
            replay["Idempotent-Replayed"] = "true"
            return replay
        if timezone.now() - record.updated_at < STALE_AFTER:
            raise Conflict("A request with this Idempotency-Key is still in progress.", code="idempotency_key_in_use")
        record.save(update_fields=["updated_at"])  # the first request died: this one takes over
        return record


def idempotent(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Decorate a DRF view method so that its POSTs honour an Idempotency-Key."""

    @functools.wraps(handler)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not _VALID_KEY.match(key):
            raise ApiError("Idempotency-Key must be 1 to 255 printable ASCII characters.")
        claimed = _claim(caller_api_key(request), key, _fingerprint(request))
        if isinstance(claimed, Response):
            return claimed
        try:
            response = handler(view, request, *args, **kwargs)
        except Exception as exc:
            if getattr(exc, "status_code", 500) >= 500:
                claimed.delete()
                raise
            response = view.handle_exception(exc)  # a refusal is a real answer: keep it
        if response.status_code >= 500:
            claimed.delete()
        else:
            claimed.state = IdempotencyRecord.State.DONE
            claimed.response_status = response.status_code
            claimed.response_body = json.loads(JSONRenderer().render(response.data))
            claimed.save(update_fields=["state", "response_status", "response_body", "updated_at"])
        return response

    return wrapper


def idempotency_records_prune() -> int:
    """Forget keys older than 24 hours, as the PSP does."""
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - KEEP_FOR).delete()
    return deleted
