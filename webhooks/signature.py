"""Standard Webhooks v1 verification, on the raw request bytes. Pure: no ORM, no Django.

`webhook-signature` holds one or more space-separated `v1,<base64>` signatures, each an
HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<body>`; any one made with any of our
secrets (two during a rotation) is enough. Comparison is constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping

TOLERANCE_SECONDS = 300
_PRINTABLE_ID = re.compile(r"^[\x21-\x7e]{1,255}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


class VerificationError(Exception):
    status_code = 401
    reason = "bad_signature"


class MalformedHeaders(VerificationError):
    status_code = 400
    reason = "malformed_headers"


class StaleTimestamp(VerificationError):
    reason = "bad_timestamp"


def secret_key(secret: str) -> bytes:
    """The HMAC key: the base64 part of a `whsec_…` secret, decoded."""
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret must be whsec_ followed by base64") from exc


def sign(key: bytes, event_id: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(key, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(*, secrets: Iterable[str], headers: Mapping[str, str], body: bytes, now: float) -> str:
    """Return the event id of a genuine, fresh delivery; raise a VerificationError otherwise."""
    event_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not _PRINTABLE_ID.match(event_id) or not _TIMESTAMP.match(timestamp) or not signatures.strip():
        raise MalformedHeaders("webhook-id, webhook-timestamp and webhook-signature are required")
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise StaleTimestamp("webhook-timestamp is more than 5 minutes from our clock")
    offered = [part.partition(",")[2] for part in signatures.split(" ") if part.startswith("v1,")]
    expected = [sign(secret_key(secret), event_id, timestamp, body) for secret in secrets if secret]
    # Every pair is compared, so the time taken says nothing about which part matched.
    matched = False
    for candidate in offered:
        for signature in expected:
            matched |= hmac.compare_digest(candidate.encode(), signature.encode())
    if not matched:
        raise VerificationError("no signature matches")
    return event_id
