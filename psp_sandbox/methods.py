"""The sandbox's test payment methods (docs/psp-protocol.md, "Test payment methods")."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    status: str  # the status in the response that creates the payment
    failure_code: str | None = None
    settles_to: str | None = None  # final status once the settle delay has passed
    settle_failure_code: str | None = None
    silent: bool = False  # no webhook about the payment or its refunds, ever


METHODS: dict[str, Method] = {
    "pm_card_visa": Method("succeeded"),
    "pm_card_mastercard": Method("succeeded"),
    "pm_card_declined": Method("failed", failure_code="card_declined"),
    "pm_card_insufficient_funds": Method("failed", failure_code="insufficient_funds"),
    "pm_card_expired": Method("failed", failure_code="expired_card"),
    "pm_card_3ds": Method("requires_action"),
    "pm_bank_transfer": Method("pending", settles_to="succeeded"),
    "pm_bank_transfer_fail": Method("pending", settles_to="failed", settle_failure_code="processing_error"),
    "pm_bank_transfer_silent": Method("pending", settles_to="succeeded", silent=True),
}

FAILURE_MESSAGES: dict[str, str] = {
    "card_declined": "The card was declined.",
    "insufficient_funds": "The card has insufficient funds.",
    "expired_card": "The card has expired.",
    "authentication_failed": "The shopper did not pass 3-D Secure authentication.",
    "processing_error": "The bank transfer could not be processed.",
}


def is_silent(payment_method: str) -> bool:
    method = METHODS.get(payment_method)
    return method is not None and method.silent
