"""Money as the PSP API writes it: a decimal string with exactly the currency's ISO 4217 digits.

Pure functions, no ORM: amounts are `Decimal` everywhere, never `float`.
"""

from __future__ import annotations

import re
from decimal import Decimal

# ISO 4217 minor-unit digits of the currencies the shop sells in. A currency missing here is
# refused before it reaches the PSP.
CURRENCY_DIGITS: dict[str, int] = {
    "EUR": 2,
    "USD": 2,
    "GBP": 2,
    "CHF": 2,
    "SEK": 2,
    "JPY": 0,
    "KWD": 3,
}

CURRENCY_FORMAT = r"^[A-Z]{3}$"
_INTEGER_PART = r"(0|[1-9][0-9]{0,7})"


class InvalidMoney(ValueError):
    """An amount or currency that the contract does not allow; `field` names which."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def currency_digits(currency: str) -> int:
    try:
        return CURRENCY_DIGITS[currency]
    except KeyError:
        raise InvalidMoney("currency", f"{currency!r} is not a supported ISO 4217 currency.") from None


def parse_amount(text: object, currency: str, *, allow_zero: bool = False) -> Decimal:
    """Read an amount string such as "12.50" (EUR), "1200" (JPY) or "1.250" (KWD).

    Refuses numbers that are not strings, a wrong number of fraction digits, leading zeros,
    exponents and signs, and zero unless `allow_zero` (refunded amounts may be zero).
    """
    digits = currency_digits(currency)
    if not isinstance(text, str):
        raise InvalidMoney("amount", "The amount must be a string such as \"12.50\".")
    fraction = rf"\.[0-9]{{{digits}}}" if digits else ""
    if not re.fullmatch(_INTEGER_PART + fraction, text):
        example = format_amount(Decimal(1250).scaleb(-digits), currency)
        raise InvalidMoney(
            "amount", f"The amount must have exactly {digits} decimal digits for {currency}, like \"{example}\"."
        )
    amount = Decimal(text)
    if amount == 0 and not allow_zero:
        raise InvalidMoney("amount", "The amount must be greater than zero.")
    return amount


def format_amount(amount: Decimal, currency: str) -> str:
    """The contract's string for an amount: "12.50" EUR, "1200" JPY, "1.250" KWD."""
    digits = currency_digits(currency)
    return str(amount.quantize(Decimal(1).scaleb(-digits)))


def format_money(amount: Decimal, currency: str) -> str:
    """Money for people (pages, the mid-office, timeline sentences): "12.50 EUR". The one way."""
    return f"{format_amount(amount, currency)} {currency}"


def has_currency_digits(amount: Decimal, currency: str) -> bool:
    """True when `amount` needs no more fraction digits than the currency has."""
    digits = currency_digits(currency)
    return amount == amount.quantize(Decimal(1).scaleb(-digits))
