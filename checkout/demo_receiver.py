"""The demo shop's receiver of its storefront notifications (`make run` points them here).

What every storefront writes, in a few lines: verify the Standard Webhooks signature on the raw
body with the `standardwebhooks` library (which also refuses a timestamp more than 5 minutes
off), answer 400 without touching anything when it does not verify, else apply the event (newest
`sequence` wins) and answer 2xx, even for an event it has no use for, so it is not sent again.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from checkout.demo_orders import demo_notification_secret, demo_order_notified

logger = logging.getLogger(__name__)


@csrf_exempt  # the signature is the proof; the BPS has no cookie to send
@require_POST
def demo_notifications(request: HttpRequest) -> JsonResponse:
    secret = demo_notification_secret()
    if secret is None:
        return JsonResponse({"error": "The demo shop has no notification secret (run manage.py demo_setup)."},
                            status=400)
    try:
        event = Webhook(secret).verify(request.body, dict(request.headers))
    except (WebhookVerificationError, ValueError):  # ValueError: a malformed header or body
        logger.warning("a demo notification did not verify (webhook-id %s)", request.headers.get("webhook-id"))
        return JsonResponse({"error": "The signature does not verify."}, status=400)
    applied = isinstance(event, dict) and demo_order_notified(event=event, now=timezone.now())
    return JsonResponse({"applied": applied})
