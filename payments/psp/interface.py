"""The one provider-neutral interface of the PSP port: what checkout, payments and webhooks may
ask of a PSP, nothing more. Each adapter (`generic`, `stripe`) implements it and answers with
our own dataclasses (payments/psp/types.py) and exception types; `PSP_PROVIDER` picks one at
start-up (payments/gateway.py) and no other code asks which.

What every adapter guarantees:
- every request that creates or confirms something carries the caller's `idempotency_key`, and
  every retry of it (here, or by another process deriving the key from the same row) the same key;
- a payment's `version` grows with every change of that payment, so an older object is never
  applied over a newer one;
- a `PspRejected` means the PSP refused and did nothing (or, for a decline, that the payment
  failed); a `PspUnavailable` means nobody knows yet: ask again later.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from payments.psp.types import CallRecord, PspPayment, PspRefund, PspSession

Observer = Callable[[CallRecord], None]
Context = dict[str, str]


class PspClient(Protocol):
    def create_session(
        self, *, checkout_id: str, amount: Decimal, currency: str, description: str,
        idempotency_key: str, context: Context,
    ) -> PspSession:
        """Register a payment session for a checkout (generic: a session; Stripe: a PaymentIntent)."""
        ...

    def get_session(self, token: str, *, context: Context) -> PspSession:
        """The session now, with its latest payment (None while nothing was sent to be paid)."""
        ...

    def create_payment(
        self, *, token: str, amount: Decimal, currency: str, payment_method: str, redirect_url: str,
        webhook_url: str, metadata: dict[str, str], idempotency_key: str, context: Context,
    ) -> PspPayment:
        """Pay the session with a payment method; `metadata["attempt_id"]` names our attempt."""
        ...

    def get_payment(self, payment_id: str, *, context: Context) -> PspPayment: ...

    def create_refund(
        self, *, payment_id: str, amount: Decimal, currency: str, reason: str,
        idempotency_key: str, context: Context,
    ) -> PspRefund: ...

    def get_refund(self, refund_id: str, *, context: Context) -> PspRefund: ...

    def accepts_payment_method(self, payment_method: str) -> bool:
        """Whether Buy Now may send this payment method to this PSP at all."""
        ...
