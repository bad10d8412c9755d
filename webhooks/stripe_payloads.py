"""`POST /webhooks/stripe/`'s checks: a delivery signed by Stripe (`Stripe-Signature`, verified
by the official SDK over the raw bytes, 300 s tolerance), holding an event. Pure: no ORM."""

from __future__ import annotations

import json
import re

import stripe

from payments.psp.parse import redact
from webhooks.payloads import Event, NotAnEvent, read_json
from webhooks.signature import MalformedHeaders, StaleTimestamp, VerificationError

TOLERANCE_SECONDS = 300
_TIMESTAMP = re.compile(r"(?:^|,)t=([0-9]{1,12})(?:,|$)")
_EVENT_ID = re.compile(r"^evt_[A-Za-z0-9_]{1,250}$")


def stripe_verify(*, secret: str, header: str, body: bytes, now: float) -> None:
    """Return if the delivery is Stripe's and fresh; raise a VerificationError otherwise."""
    found = _TIMESTAMP.search(header)
    if not secret:
        raise VerificationError("Stripe webhooks are not configured (STRIPE_WEBHOOK_SECRET)")
    if found is None or "v1=" not in header:
        raise MalformedHeaders("Stripe-Signature with t= and v1= is required")
    if abs(now - int(found.group(1))) > TOLERANCE_SECONDS:
        raise StaleTimestamp("the Stripe-Signature timestamp is more than 5 minutes from our clock")
    try:
        stripe.WebhookSignature.verify_header(body.decode("utf-8"), header, secret, tolerance=TOLERANCE_SECONDS)
    except (stripe.SignatureVerificationError, UnicodeDecodeError):
        raise VerificationError("no signature matches") from None


def stripe_event_read(body: bytes) -> Event:
    """The Stripe event in a verified body; raises NotAnEvent otherwise. Any event type is
    taken (Stripe sends many): processing decides whether it is about one of our objects."""
    payload = read_json(body)
    if not isinstance(payload, dict) or payload.get("object") != "event":
        raise NotAnEvent("the body is not a Stripe event")
    event_id, event_type = payload.get("id"), payload.get("type")
    if not isinstance(event_id, str) or not _EVENT_ID.match(event_id):
        raise NotAnEvent("the event has no evt_ id")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= 64:
        raise NotAnEvent("the event has no type")
    data = payload.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise NotAnEvent("the event has no object in data")
    found = obj.get("id")
    object_id = found if isinstance(found, str) else ""  # a Balance, for one, has no id
    stored = json.dumps(redact(payload), ensure_ascii=False, separators=(",", ":"))
    return Event(id=event_id, type=event_type, object_id=object_id[:128], stored_body=stored)
