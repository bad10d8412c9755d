"""What the PSP answers, as typed values, and the errors its client raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class PspSession:
    token: str
    checkout_id: str
    amount: Decimal
    currency: str
    status: str  # open | completed | expired
    expires_at: datetime
    latest_payment: PspPayment | None


@dataclass(frozen=True)
class PspPayment:
    id: str
    token: str
    amount: Decimal
    currency: str
    payment_method: str
    status: str  # requires_action | pending | succeeded | failed
    version: int
    refunded_amount: Decimal
    failure_code: str | None = None
    failure_message: str | None = None
    action_url: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PspRefund:
    id: str
    payment_id: str
    amount: Decimal
    currency: str
    status: str  # pending | succeeded | failed
    reason: str | None = None


@dataclass(frozen=True)
class CallRecord:
    """One HTTP exchange with the PSP, for the payment's timeline (secrets already removed)."""

    method: str
    path: str
    idempotency_key: str
    request_body: dict[str, Any] | None
    status_code: int | None
    response_body: Any
    duration_ms: int
    error: str
    context: dict[str, str]


class PspError(Exception):
    """Anything that went wrong talking to the PSP."""


class PspUnavailable(PspError):
    """No trustworthy answer: timeout, connection error, 5xx or a key still in flight after the
    retries. The operation may or may not have happened at the PSP; ask it again later."""


class PspRejected(PspError):
    """The PSP answered 4xx: it refused the request and did nothing."""

    def __init__(self, status_code: int, code: str, message: str):
        super().__init__(f"{status_code} {code}: {message}")
        self.status_code, self.code, self.message = status_code, code, message


class PspNotFound(PspRejected):
    pass


class PspProtocolError(PspError):
    """The PSP answered 2xx with a body that does not follow docs/psp-protocol.md."""
