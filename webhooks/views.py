"""`POST /webhooks/psp/`: verify on the raw bytes, record, answer 2xx; processing comes later."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from paysite.api_errors import json_error
from webhooks.services import event_record, refusal_count
from webhooks.signature import MalformedHeaders, VerificationError, verify

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
        remote = request.META.get("REMOTE_ADDR", "")
        refusal_count(reason=exc.reason, remote_addr=remote)
        logger.warning("webhook refused (%s) from %s: %s", exc.reason, remote, exc)
        code = "invalid_request" if isinstance(exc, MalformedHeaders) else "invalid_signature"
        return json_error(exc.status_code, code, str(exc))
    event = event_record(event_id=event_id, headers=headers, body=body)
    if event is None:
        return JsonResponse({"received": True, "duplicate": True})
    if event.error:
        logger.warning("signed webhook %s is not a valid event: %s", event_id, event.error)
        return json_error(400, "invalid_event", f"Signed correctly, but not a valid event: {event.error}.")
    return JsonResponse({"received": True, "duplicate": False})
