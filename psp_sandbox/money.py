"""Money as decimal strings on the wire and integer minor units inside."""

from __future__ import annotations

import re

from .errors import ApiError

# ISO 4217 minor-unit digits of the currencies the sandbox supports.
EXPONENTS: dict[str, int] = {
    "EUR": 2,
    "USD": 2,
    "GBP": 2,
    "CHF": 2,
    "SEK": 2,
    "JPY": 0,
    "KWD": 3,
}


def _pattern(exponent: int) -> re.Pattern[str]:
    # The exact regex of docs/psp-protocol.md ("Money"): the fraction is
    # required when the exponent is positive and absent when it is zero.
    fraction = rf"\.[0-9]{{{exponent}}}" if exponent else ""
    return re.compile(rf"(0|[1-9][0-9]{{0,7}}){fraction}")


_PATTERNS = {currency: _pattern(exp) for currency, exp in EXPONENTS.items()}


def check_currency(value: object) -> str:
    if not isinstance(value, str) or value not in EXPONENTS:
        raise ApiError(422, "invalid_currency", f"unsupported currency: {value!r}")
    return value


def parse_amount(value: object, currency: str) -> int:
    """The amount in minor units; `invalid_amount` unless it is a positive,
    exactly formatted decimal string for `currency`."""
    if not isinstance(value, str) or not _PATTERNS[currency].fullmatch(value):
        raise ApiError(
            422,
            "invalid_amount",
            f"amount must be a positive decimal string with exactly "
            f"{EXPONENTS[currency]} fraction digits for {currency}",
        )
    minor = int(value.replace(".", ""))
    if minor <= 0:
        raise ApiError(422, "invalid_amount", "amount must be greater than 0")
    return minor


def format_amount(minor: int, currency: str) -> str:
    exponent = EXPONENTS[currency]
    if exponent == 0:
        return str(minor)
    units, fraction = divmod(minor, 10**exponent)
    return f"{units}.{fraction:0{exponent}d}"
