from decimal import Decimal

from django import template

from payments.money import format_money

register = template.Library()


@register.filter
def money(amount: Decimal, currency: str) -> str:
    """`{{ checkout.amount|money:checkout.currency }}` → "12.50 EUR"."""
    return format_money(amount, currency)
