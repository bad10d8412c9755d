from decimal import Decimal

import pytest

from payments.money import InvalidMoney, format_amount, has_currency_digits, parse_amount


@pytest.mark.parametrize(
    ("text", "currency", "expected"),
    [
        ("12.50", "EUR", Decimal("12.50")),
        ("0.01", "USD", Decimal("0.01")),
        ("99999999.99", "EUR", Decimal("99999999.99")),
        ("1200", "JPY", Decimal("1200")),
        ("99999999", "JPY", Decimal("99999999")),
        ("1.250", "KWD", Decimal("1.250")),
    ],
)
def test_parse_amount_accepts_the_currency_digits(text, currency, expected):
    assert parse_amount(text, currency) == expected


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ("12.5", "EUR"), ("12.500", "EUR"), ("012.50", "EUR"), ("0.00", "EUR"), ("-1.00", "EUR"), ("1e3", "EUR"),
        ("100000000.00", "EUR"), (" 12.50", "EUR"), ("12,50", "EUR"), ("1200.00", "JPY"), ("1.25", "KWD"),
        (12.5, "EUR"), (1250, "JPY"), (None, "EUR"), ("", "EUR"), ("NaN", "EUR"),
    ],
)
def test_parse_amount_refuses_anything_else(text, currency):
    with pytest.raises(InvalidMoney) as caught:
        parse_amount(text, currency)
    assert caught.value.field == "amount"


@pytest.mark.parametrize("currency", ["eur", "XXX", "EURO", ""])
def test_parse_amount_refuses_unknown_currencies(currency):
    with pytest.raises(InvalidMoney) as caught:
        parse_amount("12.50", currency)
    assert caught.value.field == "currency"


def test_zero_is_allowed_only_where_asked():
    assert parse_amount("0.00", "EUR", allow_zero=True) == 0


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [(Decimal("12.5"), "EUR", "12.50"), (Decimal("1200.000"), "JPY", "1200"), (Decimal("1.25"), "KWD", "1.250")],
)
def test_format_amount_writes_exactly_the_currency_digits(amount, currency, text):
    assert format_amount(amount, currency) == text


def test_has_currency_digits():
    assert has_currency_digits(Decimal("12.500"), "EUR")
    assert not has_currency_digits(Decimal("12.505"), "EUR")
    assert not has_currency_digits(Decimal("1.5"), "JPY")
