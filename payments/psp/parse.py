"""Turning the PSP's JSON into typed values; a body that breaks docs/psp-protocol.md is a PspProtocolError."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from payments.money import InvalidMoney, parse_amount
from payments.psp.types import PspPayment, PspProtocolError, PspRefund, PspSession

_SECRET_KEYS = frozenset({"token", "authorization", "api_key", "secret", "client_secret"})  # client_secret: Stripe
# A session token wherever it appears in free text: a URL path, an error message, a log line; and a
# Stripe PaymentIntent's client secret (`pi_…_secret_…`), which Stripe's 3-D Secure URLs carry.
_TOKEN_IN_TEXT = re.compile(r"tok_[A-Za-z0-9_\-]+|[A-Za-z0-9]+_[A-Za-z0-9]+_secret_[A-Za-z0-9]+")


# docs/psp-protocol.md's `version` grows by one per change; we store it in a 32-bit integer column.
MAX_VERSION = 2**31 - 1


def _text(body: dict[str, Any], key: str) -> str:
    """A required, non-empty string field: a number, a list or an object there breaks the contract."""
    value = body[key]
    if not isinstance(value, str) or not value:
        raise PspProtocolError(f"{key} must be a non-empty string")
    return value


def _optional_text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise PspProtocolError(f"{key} must be a string or null")
    return value


def _version(body: dict[str, Any]) -> int:
    value = body["version"]
    # bool is an int in Python, and 1.0 or "1" are not what the contract writes.
    if type(value) is not int or not 1 <= value <= MAX_VERSION:
        raise PspProtocolError(f"version must be an integer from 1 to {MAX_VERSION}")
    return value


def _money(body: dict[str, Any], key: str, *, allow_zero: bool = False) -> Decimal:
    try:
        return parse_amount(body[key], _text(body, "currency"), allow_zero=allow_zero)
    except (KeyError, InvalidMoney) as exc:
        raise PspProtocolError(f"bad {key} in PSP answer: {exc}") from exc


def _time(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise PspProtocolError(f"bad time in PSP answer: {value!r}") from exc


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PspProtocolError(f"{what} must be a JSON object")
    return value


def _or_empty(value: Any) -> Any:
    return {} if value is None else value


def payment_from(body: Any) -> PspPayment:
    """A payment object of docs/psp-protocol.md with every field of the type it documents; anything else
    (a missing field, a number for a string, a float version) is a PspProtocolError."""
    try:
        body = _object(body, "a payment")
        next_action = _object(_or_empty(body.get("next_action")), "next_action")
        metadata = _object(_or_empty(body.get("metadata")), "metadata")
        if not all(isinstance(value, str) for value in metadata.values()):
            raise PspProtocolError("metadata values must be strings")
        return PspPayment(
            id=_text(body, "id"),
            token=_text(body, "token"),
            amount=_money(body, "amount"),
            currency=_text(body, "currency"),
            payment_method=_text(body, "payment_method"),
            status=_text(body, "status"),
            version=_version(body),
            refunded_amount=_money(body, "refunded_amount", allow_zero=True),
            failure_code=_optional_text(body, "failure_code"),
            failure_message=_optional_text(body, "failure_message"),
            action_url=_optional_text(next_action, "url"),
            metadata=dict(metadata),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PspProtocolError(f"bad payment object from the PSP: {exc!r}") from exc


def session_from(body: Any) -> PspSession:
    try:
        latest = body.get("latest_payment")
        return PspSession(
            token=str(body["token"]),
            checkout_id=str(body["checkout_id"]),
            amount=_money(body, "amount"),
            currency=str(body["currency"]),
            status=str(body["status"]),
            expires_at=_time(body["expires_at"]),
            latest_payment=payment_from(latest) if latest else None,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise PspProtocolError(f"bad session object from the PSP: {exc!r}") from exc


def refund_from(body: Any) -> PspRefund:
    """A refund object of docs/psp-protocol.md with every field of the type it documents."""
    try:
        body = _object(body, "a refund")
        return PspRefund(
            id=_text(body, "id"),
            payment_id=_text(body, "payment_id"),
            amount=_money(body, "amount"),
            currency=_text(body, "currency"),
            status=_text(body, "status"),
            reason=_optional_text(body, "reason"),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise PspProtocolError(f"bad refund object from the PSP: {exc!r}") from exc


def redact(value: Any) -> Any:
    """A copy fit for the timeline: session tokens and keys keep only their last four characters,
    under their own keys and wherever a `tok_…` appears in a string."""
    if isinstance(value, dict):
        return {k: _mask(v) if k.lower() in _SECRET_KEYS else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, str):  # an error message or a URL may quote a token
        return mask_tokens(value)
    return value


def mask_tokens(text: str) -> str:
    """`text` with every session token (`tok_…`) and client secret cut to its last four characters,
    as on the timeline."""
    return _TOKEN_IN_TEXT.sub(lambda found: _mask(found.group()), text)


def same_token(shown: str, real: str) -> bool:
    """Whether a token as the PSP's object shows it (whole, or masked to its last four characters
    as stored webhook bodies keep it) is `real`."""
    if shown.startswith("…"):
        return len(shown) > 1 and real.endswith(shown[1:])
    return shown == real


def _mask(value: Any) -> str:
    text = str(value)
    if text.startswith("…"):  # masked already (a stored webhook body shown again): keep its four
        return text[:5]
    return f"…{text[-4:]}" if len(text) > 8 else "…"
