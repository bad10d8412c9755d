"""Turning the PSP's JSON into typed values; a body that breaks psp-api.md is a PspProtocolError."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from payments.money import InvalidMoney, parse_amount
from payments.psp.types import PspPayment, PspProtocolError, PspRefund, PspSession

_SECRET_KEYS = frozenset({"token", "authorization", "api_key", "secret"})


def _money(body: dict[str, Any], key: str, *, allow_zero: bool = False) -> Decimal:
    try:
        return parse_amount(body[key], body["currency"], allow_zero=allow_zero)
    except (KeyError, InvalidMoney) as exc:
        raise PspProtocolError(f"bad {key} in PSP answer: {exc}") from exc


def _time(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise PspProtocolError(f"bad time in PSP answer: {value!r}") from exc


def payment_from(body: Any) -> PspPayment:
    try:
        next_action = body.get("next_action") or {}
        metadata = body.get("metadata") or {}
        return PspPayment(
            id=str(body["id"]),
            token=str(body["token"]),
            amount=_money(body, "amount"),
            currency=str(body["currency"]),
            payment_method=str(body["payment_method"]),
            status=str(body["status"]),
            version=int(body["version"]),
            refunded_amount=_money(body, "refunded_amount", allow_zero=True),
            failure_code=body.get("failure_code"),
            failure_message=body.get("failure_message"),
            action_url=next_action.get("url"),
            metadata={str(k): str(v) for k, v in metadata.items()},
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
    try:
        return PspRefund(
            id=str(body["id"]),
            payment_id=str(body["payment_id"]),
            amount=_money(body, "amount"),
            currency=str(body["currency"]),
            status=str(body["status"]),
            reason=body.get("reason"),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise PspProtocolError(f"bad refund object from the PSP: {exc!r}") from exc


def redact(value: Any) -> Any:
    """A copy fit for the timeline: session tokens and keys keep only their last four characters."""
    if isinstance(value, dict):
        return {k: _mask(v) if k.lower() in _SECRET_KEYS else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def _mask(value: Any) -> str:
    text = str(value)
    return f"…{text[-4:]}" if len(text) > 8 else "…"
