"""`POST /webhooks/psp/` and `POST /webhooks/stripe/`: verify on the raw bytes, record, answer
2xx; processing comes later. One receiver per provider, the same rules for both.

Whatever a delivery holds, the answer is a 2xx or a 4xx in the contract's error shape. A
refused delivery (bad or missing signature headers, a signature or timestamp that does not
verify, a signed body that is not an event) writes nothing to the database: it is counted in
the cache (`webhooks.refusals`) and logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from paysite.api_errors import json_error
from webhooks.payloads import Event, NotAnEvent, event_read
from webhooks.refusals import refusal_count
from webhooks.services import event_known, event_record
from webhooks.signature import MalformedHeaders, VerificationError, verify
from webhooks.stripe_payloads import stripe_event_read, stripe_verify

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def receive(request: HttpRequest) -> JsonResponse:
    body = request.body
    headers = {name.lower(): value for name, value in request.headers.items()}
    try:
        event_id = verify(
            secrets=[settings.PSP_WEBHOOK_SECRET, settings.PSP_WEBHOOK_SECRET_PREVIOUS], headers=headers, body=body,
            now=time.time(),
        )
    except VerificationError as exc:
        code = "invalid_request" if isinstance(exc, MalformedHeaders) else "invalid_signature"
        return _refuse(request, exc.reason, exc.status_code, code, str(exc))
    return _record(request, headers, lambda: event_read(event_id, body), event_id, "generic")


@csrf_exempt
@require_POST
def receive_stripe(request: HttpRequest) -> JsonResponse:
    body = request.body
    headers = {name.lower(): value for name, value in request.headers.items()}
    try:
        stripe_verify(
            secret=settings.STRIPE_WEBHOOK_SECRET, header=headers.get("stripe-signature", ""), body=body,
            now=time.time(),
        )
    except VerificationError as exc:
        code = "invalid_request" if isinstance(exc, MalformedHeaders) else "invalid_signature"
        return _refuse(request, exc.reason, exc.status_code, code, str(exc))
    return _record(request, headers, lambda: stripe_event_read(body), "", "stripe")


def _record(
    request: HttpRequest, headers: dict[str, str], read: Callable[[], Event], event_id: str, provider: str
) -> JsonResponse:
    try:
        event = read()
    except NotAnEvent as exc:
        if event_id and event_known(event_id=event_id):
            # docs/psp-protocol.md: an id already recorded is 2xx, whatever its body
            return JsonResponse({"received": True, "duplicate": True})
        message = f"Signed correctly, but not a valid event: {exc}."
        return _refuse(request, "invalid_event", 400, "invalid_event", message)
    if event_record(event=event, headers=headers, provider=provider) is None:
        return JsonResponse({"received": True, "duplicate": True})
    return JsonResponse({"received": True, "duplicate": False})


def _refuse(request: HttpRequest, reason: str, status: int, code: str, message: str) -> JsonResponse:
    refusal_count(reason=reason, now=timezone.now())
    logger.warning("webhook refused (%s) from %s: %s", reason, request.META.get("REMOTE_ADDR", ""), message)
    return json_error(status, code, message)
