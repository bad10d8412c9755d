"""Field-level checks of request bodies: every failure here is a 422."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import ApiError, invalid_request
from .methods import METHODS
from .money import check_currency, parse_amount

CHECKOUT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_METADATA_KEYS = 20
MAX_METADATA_VALUE = 500
MAX_URL = 2048
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def check_keys(body: Mapping[str, object], required: set[str], optional: set[str]) -> None:
    unknown = sorted(set(body) - required - optional)
    if unknown:
        raise invalid_request(f"unknown field: {unknown[0]}")
    missing = sorted(required - set(body))
    if missing:
        raise invalid_request(f"missing field: {missing[0]}")


def optional_text(body: Mapping[str, object], name: str, max_length: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_length:
        raise invalid_request(f"{name} must be a string of at most {max_length} characters")
    return value


def required_text(body: Mapping[str, object], name: str) -> str:
    value = body[name]
    if not isinstance(value, str) or not value:
        raise invalid_request(f"{name} must be a non-empty string")
    return value


def absolute_url(body: Mapping[str, object], name: str) -> str:
    value = body[name]
    problem = f"{name} must be an absolute http or https URL"
    if not isinstance(value, str) or len(value) > MAX_URL or _CONTROL.search(value):
        raise invalid_request(problem)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise invalid_request(problem) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid_request(problem)
    return value


def metadata(body: Mapping[str, object]) -> dict[str, str]:
    value = body.get("metadata")
    if value is None:
        return {}
    problem = (
        f"metadata must be an object of at most {MAX_METADATA_KEYS} string values "
        f"of at most {MAX_METADATA_VALUE} characters"
    )
    if not isinstance(value, dict) or len(value) > MAX_METADATA_KEYS:
        raise invalid_request(problem)
    for item in value.values():
        if not isinstance(item, str) or len(item) > MAX_METADATA_VALUE:
            raise invalid_request(problem)
    return value


@dataclass(frozen=True)
class SessionRequest:
    checkout_id: str
    amount_minor: int
    currency: str
    description: str | None


def session_request(body: Mapping[str, object]) -> SessionRequest:
    check_keys(body, {"checkout_id", "amount", "currency"}, {"description"})
    checkout_id = body["checkout_id"]
    if not isinstance(checkout_id, str) or not CHECKOUT_ID.fullmatch(checkout_id):
        raise invalid_request("checkout_id must be 1 to 64 characters of [A-Za-z0-9_-]")
    description = optional_text(body, "description", 255)
    currency = check_currency(body["currency"])
    return SessionRequest(checkout_id, parse_amount(body["amount"], currency), currency, description)


@dataclass(frozen=True)
class PaymentRequest:
    token: str
    amount_minor: int
    currency: str
    payment_method: str
    redirect_url: str
    webhook_url: str
    metadata: dict[str, str]


_PAYMENT_FIELDS = {
    "token",
    "amount",
    "currency",
    "payment_method",
    "redirect_url",
    "webhook_url",
}


def payment_request(body: Mapping[str, object]) -> PaymentRequest:
    check_keys(body, _PAYMENT_FIELDS, {"metadata"})
    token = required_text(body, "token")
    method = body["payment_method"]
    if not isinstance(method, str) or method not in METHODS:
        raise ApiError(422, "invalid_payment_method", f"unknown payment method: {method!r}")
    currency = check_currency(body["currency"])
    return PaymentRequest(
        token=token,
        amount_minor=parse_amount(body["amount"], currency),
        currency=currency,
        payment_method=method,
        redirect_url=absolute_url(body, "redirect_url"),
        webhook_url=absolute_url(body, "webhook_url"),
        metadata=metadata(body),
    )


@dataclass(frozen=True)
class RefundRequest:
    # The amount stays raw: its format depends on the payment's currency, which
    # is only known once the payment has been found.
    amount: object
    currency: str
    reason: str | None


def refund_request(body: Mapping[str, object]) -> RefundRequest:
    check_keys(body, {"amount", "currency"}, {"reason"})
    currency = body["currency"]
    if not isinstance(currency, str):
        raise invalid_request("currency must be a string")
    amount = body["amount"]
    if not isinstance(amount, str):
        raise ApiError(422, "invalid_amount", "amount must be a decimal string")
    return RefundRequest(amount, currency, optional_text(body, "reason", 255))
