"""Standard Webhooks v1 signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac


def secret_key(secret: str) -> bytes:
    """The HMAC key: the base64-decoded part of `whsec_...`."""
    return base64.b64decode(secret.removeprefix("whsec_"))


def signature(key: bytes, event_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(key: bytes, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "psp-sandbox-webhooks/1",
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, event_id, timestamp, body),
    }
