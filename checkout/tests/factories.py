"""Rows made directly, for tests that start after a checkout exists."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from checkout.api_keys import api_key_create
from checkout.models import ApiKey, Checkout, Storefront


def make_storefront(name: str = "storefront") -> Storefront:
    return Storefront.objects.get_or_create(name=name)[0]


def make_checkout(**fields: Any) -> Checkout:
    if "storefront" not in fields and "storefront_id" not in fields:
        fields["storefront"] = make_storefront()
    values: dict[str, Any] = {
        "id": uuid.uuid4(), "amount": Decimal("12.50"), "currency": "EUR", "description": "Order 1042",
        "reference": f"order-{secrets.token_hex(4)}", "psp_token": f"tok_{secrets.token_hex(12)}",
        "expires_at": timezone.now() + timedelta(hours=24),
    }
    values.update(fields)
    return Checkout.objects.create(**values)


def make_api_key(name: str = "storefront") -> tuple[ApiKey, str]:
    return api_key_create(storefront_name=name)
