"""The Stripe adapter: the PSP interface over Stripe's PaymentIntents, with the official SDK.

The mapping (README, "Stripe mode"), followed exactly:
- checkout ↔ PaymentIntent, created at checkout time; its id is the checkout's token.
- Buy Now ↔ a server-side confirmation ("finalize payments on the server"): the PaymentIntent is
  first updated with the shopper's PaymentMethod and `metadata[attempt_id]`, then confirmed
  with our return page as `return_url`. The metadata makes every later read say which attempt
  the PaymentIntent's current confirmation belongs to: after an update it is
  `requires_confirmation` (nothing sent yet), after a confirmation it shows that attempt's fate.
- attempt ↔ that confirmation and its charge; `PspPayment.id` is the PaymentIntent's id.
- statuses: `requires_action` → requires_action (the browser goes to
  `next_action.redirect_to_url.url`), `processing` → pending, `succeeded` → succeeded, a decline
  (`requires_payment_method` with `last_payment_error`) → failed with Stripe's decline code,
  `canceled` → failed. `requires_payment_method` without an error and `requires_confirmation`
  are no payment at all.
- Stripe objects carry no version. Every event is only a hint that makes us re-read the current
  object, and the version we give a read follows the one way a confirmation moves
  (requires_action 1, processing 2, failed 3, succeeded 4: a success after a decline is newer,
  so it reaches the contradiction check), so a read that arrives late can never undo a newer one.
- refunded amounts come from Stripe's Refund objects alone (each synced with our refund row), never
  from the charge's `amount_refunded`, which counts refunds still pending (and perhaps failing).
- amounts ↔ Stripe's minor units, exactly, with its zero-decimal and three-decimal rules.

Every POST carries an Idempotency-Key derived from our row (the update `…-method`, the
confirmation the attempt's own key), the same on every retry; the SDK's own retries are off so
that ours (bounded, with backoff, recorded one by one on the timeline) are the only ones.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import requests
import stripe

from payments.money import InvalidMoney, currency_digits
from payments.psp import parse
from payments.psp.http_session import pooled_session
from payments.psp.interface import Context, Observer
from payments.psp.types import (
    CallRecord,
    PspNotFound,
    PspPayment,
    PspProtocolError,
    PspRefund,
    PspRejected,
    PspSession,
    PspUnavailable,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

# --- Money: Stripe's minor units -------------------------------------------------------------
# docs/stripe-currencies.md (from https://docs.stripe.com/currencies): zero-decimal currencies
# are whole units; three-decimal ones are thousandths ending in 0; ISK and UGX are sent as
# two-decimal values whose decimals are always 00. Every other currency has two decimals.
ZERO_DECIMAL = frozenset({
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "VND", "VUV", "XAF", "XOF", "XPF",
})
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
WHOLE_AS_TWO_DECIMAL = frozenset({"ISK", "UGX"})


def _exponent(currency: str) -> int:
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def to_minor_units(amount: Decimal, currency: str) -> int:
    """`amount` as the integer Stripe wants; an amount Stripe cannot take is a PspRejected
    (`invalid_amount`) before anything is sent. Never rounded: that would charge another amount."""
    currency_digits(currency)  # a currency the shop does not sell is refused as everywhere else
    minor = amount.scaleb(_exponent(currency))
    if minor != minor.to_integral_value():
        raise PspRejected(400, "invalid_amount", f"{amount} {currency} has more digits than Stripe takes.")
    value = int(minor)
    step = 10 if currency in THREE_DECIMAL else 100 if currency in WHOLE_AS_TWO_DECIMAL else 1
    if value % step:
        unit = Decimal(step).scaleb(-_exponent(currency))
        raise PspRejected(400, "invalid_amount", f"Stripe takes {currency} in steps of {unit}; {amount} is not one.")
    return value


def from_minor_units(value: object, currency: str) -> Decimal:
    if type(value) is not int or value < 0:
        raise PspProtocolError(f"a Stripe amount must be a non-negative integer, not {value!r}")
    return Decimal(value).scaleb(-_exponent(currency))


# --- Reading Stripe's objects ----------------------------------------------------------------
_FAILED, _NO_PAYMENT = "failed", ""
_RANK = {"requires_action": 1, "pending": 2, "failed": 3, "succeeded": 4}
_REFUND_STATUSES = {
    "pending": "pending", "requires_action": "pending", "succeeded": "succeeded", "failed": "failed",
    "canceled": "failed",
}


def _status_of(intent: Mapping[str, Any]) -> str:
    status = intent.get("status")
    if status == "requires_payment_method":
        return _FAILED if intent.get("last_payment_error") else _NO_PAYMENT
    mapped = {
        "requires_confirmation": _NO_PAYMENT, "requires_action": "requires_action", "processing": "pending",
        "requires_capture": "pending", "succeeded": "succeeded", "canceled": _FAILED,
    }
    if status not in mapped:
        raise PspProtocolError(f"unknown PaymentIntent status {status!r}")
    return mapped[status]


def _currency(body: Mapping[str, Any]) -> str:
    currency = body.get("currency")
    if not isinstance(currency, str) or not re.fullmatch(r"[a-z]{3}", currency):
        raise PspProtocolError(f"bad currency {currency!r} in Stripe's object")
    upper = currency.upper()
    try:
        currency_digits(upper)
    except InvalidMoney as exc:
        raise PspProtocolError(str(exc)) from None
    return upper


def _id_of(value: Any) -> str:
    """An id, whether Stripe sent it as such or expanded into its object."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def _failure(intent: Mapping[str, Any]) -> tuple[str | None, str | None]:
    if intent.get("status") == "canceled":
        return str(intent.get("cancellation_reason") or "canceled")[:64], "The payment was canceled."
    error = intent.get("last_payment_error")
    if not isinstance(error, Mapping):
        return None, None
    code = error.get("decline_code") or error.get("code") or "payment_failed"
    return str(code)[:64], str(error.get("message") or "")[:500] or None


def _action_url(intent: Mapping[str, Any]) -> str | None:
    action = intent.get("next_action")
    if isinstance(action, Mapping) and action.get("type") == "redirect_to_url":
        redirect = action.get("redirect_to_url")
        url = redirect.get("url") if isinstance(redirect, Mapping) else None
        return url if isinstance(url, str) else None
    return None


def payment_of(intent: Mapping[str, Any]) -> PspPayment | None:
    """The payment a PaymentIntent shows: its current confirmation, or None when nothing was
    confirmed since its payment method was last set."""
    try:
        status = _status_of(intent)
        if status == _NO_PAYMENT:
            return None
        currency = _currency(intent)
        failure_code, failure_message = _failure(intent) if status == _FAILED else (None, None)
        metadata = intent.get("metadata") or {}
        error = intent.get("last_payment_error")
        method = _id_of(intent.get("payment_method")) or (
            _id_of(error.get("payment_method")) if isinstance(error, Mapping) else ""
        )
        return PspPayment(
            id=str(intent["id"]), token=str(intent["id"]), amount=from_minor_units(intent.get("amount"), currency),
            currency=currency, payment_method=method, status=status, version=_RANK[status],
            refunded_amount=Decimal(0), failure_code=failure_code, failure_message=failure_message,
            action_url=_action_url(intent) if status == "requires_action" else None,
            metadata={str(key): str(value) for key, value in dict(metadata).items()},
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise PspProtocolError(f"bad PaymentIntent from Stripe: {exc!r}") from exc


def session_of(intent: Mapping[str, Any], *, expires_at: datetime) -> PspSession:
    payment = payment_of(intent)
    currency = _currency(intent)
    status = {"succeeded": "completed", "canceled": "expired"}.get(str(intent.get("status")), "open")
    return PspSession(
        token=str(intent.get("id")), checkout_id=str((intent.get("metadata") or {}).get("checkout_id", "")),
        amount=from_minor_units(intent.get("amount"), currency), currency=currency, status=status,
        expires_at=expires_at, latest_payment=payment,
    )


def refund_of(refund: Mapping[str, Any]) -> PspRefund:
    try:
        currency = _currency(refund)
        status = _REFUND_STATUSES.get(str(refund.get("status")))
        if status is None:
            raise PspProtocolError(f"unknown Refund status {refund.get('status')!r}")
        metadata = refund.get("metadata") or {}
        return PspRefund(
            id=str(refund["id"]), payment_id=_id_of(refund.get("payment_intent")),
            amount=from_minor_units(refund.get("amount"), currency), currency=currency, status=status,
            reason=str(metadata.get("reason") or refund.get("reason") or "") or None,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise PspProtocolError(f"bad Refund from Stripe: {exc!r}") from exc


# --- The adapter -----------------------------------------------------------------------------
_PAYMENT_METHOD_ID = re.compile(r"pm_[A-Za-z0-9_]{1,61}")  # whole (fullmatch); our column holds 64
# Stripe answers a key still being processed with 409; 429 is its rate limit: both, like 5xx
# and a lost connection, are retried with the same key.
_RETRY_STATUSES = frozenset({409, 429, 500, 502, 503, 504})
# A PaymentIntent does not expire; the checkout does, as a Stripe Checkout Session would.
SESSION_LIFETIME = timedelta(hours=24)


class StripePsp:
    """The PSP interface over Stripe, through `stripe.StripeClient` on a pooled `requests` session."""

    def __init__(
        self, *, secret_key: str, api_base: str = "", timeout: float, max_attempts: int = 3, backoff: float = 0.2,
        observer: Observer | None = None,
    ):
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        session = pooled_session(api_base or stripe.DEFAULT_API_BASE)  # configured once: http_session.py
        self.http = _RecordingClient(timeout=(timeout, timeout), session=session, observer=observer)
        self.client = stripe.StripeClient(
            secret_key, base_addresses={"api": api_base} if api_base else None, max_network_retries=0,
            http_client=self.http,
        )

    def accepts_payment_method(self, payment_method: str) -> bool:
        return bool(_PAYMENT_METHOD_ID.fullmatch(payment_method))

    def create_session(
        self, *, checkout_id: str, amount: Decimal, currency: str, description: str,
        idempotency_key: str, context: Context,
    ) -> PspSession:
        params: stripe.params.PaymentIntentCreateParams = {
            "amount": to_minor_units(amount, currency), "currency": currency.lower(),
            "automatic_payment_methods": {"enabled": True}, "metadata": {"checkout_id": checkout_id},
        }
        if description:
            params["description"] = description
        intent = self._call(
            "create a PaymentIntent", context, idempotency_key,
            lambda options: self.client.v1.payment_intents.create(params, options),
        )
        return session_of(intent, expires_at=datetime.now(UTC) + SESSION_LIFETIME)

    def get_session(self, token: str, *, context: Context) -> PspSession:
        intent = self._read_intent(token, context)
        created = intent.get("created")
        started = datetime.fromtimestamp(created, UTC) if isinstance(created, int) else datetime.now(UTC)
        return session_of(intent, expires_at=started + SESSION_LIFETIME)

    def create_payment(
        self, *, token: str, amount: Decimal, currency: str, payment_method: str, redirect_url: str,
        webhook_url: str, metadata: dict[str, str], idempotency_key: str, context: Context,
    ) -> PspPayment:
        # webhook_url: Stripe sends events to the endpoint registered in its dashboard instead.
        to_minor_units(amount, currency)  # refused here, before anything moves, if Stripe cannot take it
        update: stripe.params.PaymentIntentUpdateParams = {"payment_method": payment_method, "metadata": metadata}
        self._call(
            "set the payment method", context, f"{idempotency_key}-method",
            lambda options: self.client.v1.payment_intents.update(token, update, options),
        )
        confirm: stripe.params.PaymentIntentConfirmParams = {"return_url": redirect_url}
        try:
            intent = self._call(
                "confirm the PaymentIntent", context, idempotency_key,
                lambda options: self.client.v1.payment_intents.confirm(token, confirm, options),
            )
        except _Declined as declined:
            # A decline is the payment's outcome, not a refusal: the PaymentIntent says which
            # attempt failed and why (Stripe puts it in the error; if not, we read it).
            intent = declined.intent or self._read_intent(token, context)
        payment = payment_of(intent)
        if payment is None:
            raise PspProtocolError(f"Stripe confirmed {token} but shows no payment: {intent.get('status')!r}")
        return payment

    def get_payment(self, payment_id: str, *, context: Context) -> PspPayment:
        payment = payment_of(self._read_intent(payment_id, context))
        if payment is None:
            # Updated for a newer attempt and not confirmed yet: no confirmation to show now.
            raise PspNotFound(404, "no_confirmation", f"{payment_id} holds no confirmed payment right now")
        return payment

    def create_refund(
        self, *, payment_id: str, amount: Decimal, currency: str, reason: str,
        idempotency_key: str, context: Context,
    ) -> PspRefund:
        params: stripe.params.RefundCreateParams = {
            "payment_intent": payment_id, "amount": to_minor_units(amount, currency),
            # Stripe's own `reason` is an enum (duplicate, fraudulent, requested_by_customer);
            # staff's words go in the metadata.
            "metadata": {"reason": reason[:500]} if reason else {},
        }
        refund = self._call(
            "create a Refund", context, idempotency_key, lambda options: self.client.v1.refunds.create(params, options)
        )
        return refund_of(refund)

    def get_refund(self, refund_id: str, *, context: Context) -> PspRefund:
        refund = self._call("read a Refund", context, "", lambda options: self.client.v1.refunds.retrieve(
            refund_id, options=options))
        return refund_of(refund)

    # --- one SDK call, with its retries ------------------------------------------------------
    def _read_intent(self, intent_id: str, context: Context) -> dict[str, Any]:
        return self._call("read a PaymentIntent", context, "", lambda options: self.client.v1.payment_intents.retrieve(
            intent_id, options=options))

    def _call(self, what: str, context: Context, key: str, send: Callable[[Any], Any]) -> dict[str, Any]:
        options: dict[str, Any] = {"idempotency_key": key} if key else {}
        problem = ""
        for attempt in range(self.max_attempts):
            if attempt:
                delay = min(2.0, self.backoff * 2 ** (attempt - 1))
                time.sleep(delay * random.uniform(0.5, 1.5))  # noqa: S311 (jitter, not a secret)
            try:
                with self.http.recording(context):
                    answer = send(options)
            except stripe.CardError as exc:
                code = str(getattr(exc.error, "decline_code", None) or exc.code or "card_declined")[:64]
                raise _Declined(code, str(exc.user_message or exc)[:500], _intent_in(exc)) from exc
            except stripe.APIConnectionError as exc:
                problem = f"{type(exc).__name__}: {exc.user_message or exc}"[:300]
                continue
            except stripe.StripeError as exc:
                if exc.http_status in _RETRY_STATUSES:
                    problem = f"{exc.http_status} {exc.code or type(exc).__name__}"
                    continue
                raise _refusal(what, exc) from exc
            return answer.to_dict() if hasattr(answer, "to_dict") else dict(answer)
        raise PspUnavailable(f"Stripe: {what}: no answer after {self.max_attempts} tries ({problem})")


class _Declined(PspRejected):
    """Stripe declined the payment (402): the PaymentIntent it names, when it sent one, says more."""

    def __init__(self, code: str, message: str, intent: dict[str, Any] | None):
        super().__init__(402, code, message)
        self.intent = intent


def _intent_in(exc: stripe.StripeError) -> dict[str, Any] | None:
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    intent = (body.get("error") or {}).get("payment_intent")
    return intent if isinstance(intent, dict) and intent.get("object") == "payment_intent" else None


def _refusal(what: str, exc: stripe.StripeError) -> Exception:
    status = exc.http_status or 0
    code = str(exc.code or type(exc).__name__)[:64]
    if status in (401, 403) or isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        # Our keys are wrong: an operator problem, not the payment's.
        logger.error("Stripe refused our request (%s): %s %s", what, status, code)
        return PspUnavailable(f"Stripe: {what}: {status} {code}")
    message = str(exc.user_message or exc)[:500]
    if status == 404 or code == "resource_missing":
        return PspNotFound(404, code, message)
    return PspRejected(status or 400, code, message)


# --- The timeline: every exchange, redacted -------------------------------------------------


class _RecordingClient(stripe.RequestsClient):
    """The SDK's `requests` client, telling the observer about each exchange (no headers, so
    never the secret key; client secrets masked by the port's one redactor, `parse.redact`)."""

    def __init__(self, *, timeout: tuple[float, float], session: requests.Session, observer: Observer | None):
        super().__init__(timeout=timeout, session=session)
        self.observer = observer
        self.local = threading.local()

    def recording(self, context: Context) -> _Recording:
        return _Recording(self.local, context)

    def request(  # type: ignore[override]  # the SDK calls it with these four arguments only
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None,
    ) -> tuple[bytes, int, Mapping[str, str]]:
        started = time.monotonic()
        try:
            answer = super().request(method, url, headers, post_data)
        except stripe.APIConnectionError as exc:
            self._record(method, url, headers, post_data, None, None, started, f"{type(exc).__name__}: {exc}")
            raise
        content, status, _ = answer
        self._record(method, url, headers, post_data, status, content, started, "")
        return answer

    def _record(
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any, status: int | None,
        content: bytes | None, started: float, error: str,
    ) -> None:
        if self.observer is None:
            return
        parts = urlsplit(url)
        try:
            answer = json.loads(content) if content else None
        except ValueError:
            answer = None
        form = post_data.decode() if isinstance(post_data, bytes) else post_data
        body = dict(parse_qsl(form)) if isinstance(form, str) and form else None
        record = CallRecord(
            method=method.upper(), path=parts.path + (f"?{parts.query}" if parts.query else ""),
            idempotency_key=(headers or {}).get("Idempotency-Key", ""), request_body=parse.redact(body),
            status_code=status, response_body=parse.redact(answer),
            duration_ms=int((time.monotonic() - started) * 1000),
            error=error[:500], context=getattr(self.local, "context", {}),
        )
        try:
            self.observer(record)
        except Exception:
            logger.exception("could not record a Stripe call")  # the timeline never breaks a payment


class _Recording:
    def __init__(self, local: threading.local, context: Context):
        self.local, self.context = local, context

    def __enter__(self) -> None:
        self.local.context = self.context

    def __exit__(self, *exc: object) -> None:
        self.local.context = {}


# --- Events: hints about which object to read again ------------------------------------------
def event_subject(event: Mapping[str, Any]) -> tuple[str, str]:
    """(PaymentIntent id, Refund id) that a Stripe event is about, "" for none. The event's
    object itself is never applied: it may be older than what we hold, and carries no version."""
    obj = (event.get("data") or {}).get("object") or {}
    if not isinstance(obj, Mapping):
        return "", ""
    kind, object_id = obj.get("object"), _id_of(obj)
    if kind == "payment_intent":
        return object_id, ""
    if kind == "charge":
        return _id_of(obj.get("payment_intent")), ""
    if kind == "refund":
        return _id_of(obj.get("payment_intent")), object_id
    return "", ""
