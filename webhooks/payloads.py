"""A correctly signed body, read as an event of docs/psp-protocol.md, or refused with the reason why.

Pure: no ORM. Reading is bounded and strict, so that whatever a signed body holds (nesting
deeper than the parser's recursion limit, `1e999999`, 5,000-digit integers, `NaN`, a list where
a string belongs) it ends in `NotAnEvent`, never in an exception the edge did not expect.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from payments.psp.parse import payment_from, redact, refund_from
from payments.psp.types import PspProtocolError

EVENT_TYPES = frozenset({
    "payment.requires_action", "payment.pending", "payment.succeeded", "payment.failed", "payment.refunded",
    "refund.succeeded", "refund.failed",
})


class NotAnEvent(ValueError):
    """Signed correctly, but not an event of docs/psp-protocol.md; the message says why."""


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    object_id: str  # the pay_… or re_… in `data`
    stored_body: str  # the body as we keep it: the session token and other secrets masked


def event_read(event_id: str, body: bytes) -> Event:
    """The event in `body`, delivered under `event_id`; raises NotAnEvent otherwise."""
    payload = read_json(body)
    if not isinstance(payload, dict):
        raise NotAnEvent("the body is not a JSON object")
    if payload.get("id") != event_id:
        raise NotAnEvent("the body's id differs from webhook-id")
    event_type = payload.get("type")
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        raise NotAnEvent(f"unknown event type {str(event_type)[:64]!r}")
    if "created_at" in payload and not isinstance(payload["created_at"], str):
        raise NotAnEvent("created_at must be a string")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise NotAnEvent("the event has no object in data")
    try:
        found = payment_from(data) if event_type.startswith("payment.") else refund_from(data)
    except PspProtocolError as exc:
        raise NotAnEvent(f"data is not a {event_type.partition('.')[0]} object: {exc}"[:500]) from None
    stored = json.dumps(redact(payload), ensure_ascii=False, separators=(",", ":"))
    return Event(id=event_id, type=event_type, object_id=found.id[:128], stored_body=stored)


def read_json(body: bytes) -> Any:
    """JSON within limits (see the module's docstring), or NotAnEvent."""
    try:
        return json.loads(body, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise NotAnEvent("the body is nested too deeply") from None
    except ValueError as exc:  # not JSON, not UTF-8, NaN/Infinity, 1e999999, an integer past 4300 digits
        raise NotAnEvent(f"the body is not JSON within limits ({str(exc)[:100]})") from None


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number too large")
    return value
