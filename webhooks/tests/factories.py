"""Signed deliveries, as the PSP sends them."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from django.conf import settings

from webhooks.signature import secret_key, sign


def event(type_: str, data: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {"id": event_id or f"evt_{secrets.token_hex(8)}", "type": type_, "created_at": "2026-11-23T10:15:00Z",
            "data": data}


def signed(payload: dict[str, Any] | bytes, *, event_id: str | None = None, secret: str | None = None,
           timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and the Django test-client headers of one delivery."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    event_id = event_id or (payload["id"] if isinstance(payload, dict) else "evt_raw")
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = sign(secret_key(secret or settings.PSP_WEBHOOK_SECRET), event_id, stamp, body)
    return body, {"HTTP_WEBHOOK_ID": event_id, "HTTP_WEBHOOK_TIMESTAMP": stamp,
                  "HTTP_WEBHOOK_SIGNATURE": f"v1,{signature}"}


def deliver(client: Any, payload: dict[str, Any] | bytes, **options: Any) -> Any:
    body, headers = signed(payload, **options)
    return client.post("/webhooks/psp/", data=body, content_type="application/json", **headers)
