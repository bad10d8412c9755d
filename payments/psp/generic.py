"""The generic adapter: docs/psp-protocol.md over HTTP, for any PSP that implements it.

Every POST carries the caller's Idempotency-Key, and every retry of it (here, or by another
process that derives the key from the same row) sends that same key, so a retry can never
charge twice. Connection errors, timeouts, 5xx and "key in use" 409s are retried a bounded
number of times with backoff; what still fails is `PspUnavailable`.
"""

from __future__ import annotations

import logging
import random
import time
from decimal import Decimal
from typing import Any

import requests

from payments.money import format_amount
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

# Answers after which the same request, with the same key, may simply be sent again.
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class HttpPspClient:
    """docs/psp-protocol.md over a pooled `requests` session, configured once (http_session.py)."""

    def __init__(
        self, *, base_url: str, api_key: str, timeout: float, max_attempts: int = 3,
        backoff: float = 0.2, observer: Observer | None = None, payment_methods: frozenset[str] = frozenset(),
    ):
        self.base_url = base_url.rstrip("/")
        self.payment_methods = payment_methods
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.observer = observer
        self.http = pooled_session(self.base_url)
        self.http.headers.update({"Authorization": f"Bearer {api_key}", "Accept": "application/json"})

    # --- the interface ---------------------------------------------------------------------
    def accepts_payment_method(self, payment_method: str) -> bool:
        return payment_method in self.payment_methods

    def create_session(
        self, *, checkout_id: str, amount: Decimal, currency: str, description: str,
        idempotency_key: str, context: Context,
    ) -> PspSession:
        body = {"checkout_id": checkout_id, "amount": format_amount(amount, currency), "currency": currency}
        if description:
            body["description"] = description
        return parse.session_from(self._call("POST", "/v1/sessions", body, idempotency_key, context))

    def get_session(self, token: str, *, context: Context) -> PspSession:
        return parse.session_from(self._call("GET", f"/v1/sessions/{token}", None, "", context))

    def create_payment(
        self, *, token: str, amount: Decimal, currency: str, payment_method: str, redirect_url: str,
        webhook_url: str, metadata: dict[str, str], idempotency_key: str, context: Context,
    ) -> PspPayment:
        body = {
            "token": token, "amount": format_amount(amount, currency), "currency": currency,
            "payment_method": payment_method, "redirect_url": redirect_url, "webhook_url": webhook_url,
            "metadata": metadata,
        }
        return parse.payment_from(self._call("POST", "/v1/payments", body, idempotency_key, context))

    def get_payment(self, payment_id: str, *, context: Context) -> PspPayment:
        return parse.payment_from(self._call("GET", f"/v1/payments/{payment_id}", None, "", context))

    def create_refund(
        self, *, payment_id: str, amount: Decimal, currency: str, reason: str,
        idempotency_key: str, context: Context,
    ) -> PspRefund:
        body = {"amount": format_amount(amount, currency), "currency": currency}
        if reason:
            body["reason"] = reason
        path = f"/v1/payments/{payment_id}/refunds"
        return parse.refund_from(self._call("POST", path, body, idempotency_key, context))

    def get_refund(self, refund_id: str, *, context: Context) -> PspRefund:
        return parse.refund_from(self._call("GET", f"/v1/refunds/{refund_id}", None, "", context))

    # --- one HTTP exchange, with its retries -------------------------------------------------
    def _call(self, method: str, path: str, body: dict[str, Any] | None, key: str, context: Context) -> Any:
        # Session tokens travel in GET /v1/sessions/{token}, and requests puts the URL in its
        # error texts: what we raise, log or record says `…c0V`, never the token.
        shown = f"{method} {_redact_path(path)}"
        headers = {"Idempotency-Key": key} if key else {}
        last_problem = ""
        for attempt in range(self.max_attempts):
            if attempt:
                self._sleep_before_retry(attempt)
            started = time.monotonic()
            try:
                response = self.http.request(
                    method, self.base_url + path, json=body, headers=headers,
                    timeout=(self.timeout, self.timeout), allow_redirects=False,
                )
            except requests.RequestException as exc:
                last_problem = parse.mask_tokens(f"{type(exc).__name__}: {exc}")
                self._record(method, path, key, body, None, None, started, last_problem, context)
                continue
            answer = _json_or_none(response)
            self._record(method, path, key, body, response.status_code, answer, started, "", context)
            if 200 <= response.status_code < 300:
                if answer is None:
                    raise PspProtocolError(f"{shown}: 2xx without a JSON body")
                return answer
            code, message = _error_of(answer, response)
            if response.status_code in _RETRY_STATUSES or code == "idempotency_key_in_use":
                last_problem = f"{response.status_code} {code}"
                continue
            if response.status_code in (401, 403) or response.status_code < 400:
                # Our credentials or the PSP's routing are wrong: an operator problem, not the payment's.
                logger.error("PSP refused our request: %s -> %s %s", shown, response.status_code, code)
                raise PspUnavailable(f"{shown}: {response.status_code} {code}")
            error_class = PspNotFound if response.status_code == 404 else PspRejected
            raise error_class(response.status_code, code, message)
        raise PspUnavailable(f"{shown}: no answer after {self.max_attempts} tries ({last_problem})")

    def _sleep_before_retry(self, attempt: int) -> None:
        delay = min(2.0, self.backoff * 2 ** (attempt - 1))
        time.sleep(delay * random.uniform(0.5, 1.5))  # noqa: S311 (jitter, not a secret)

    def _record(
        self, method: str, path: str, key: str, body: dict[str, Any] | None, status_code: int | None,
        answer: Any, started: float, error: str, context: Context,
    ) -> None:
        if self.observer is None:
            return
        record = CallRecord(
            method=method, path=_redact_path(path), idempotency_key=key, request_body=parse.redact(body),
            status_code=status_code, response_body=parse.redact(answer),
            duration_ms=int((time.monotonic() - started) * 1000), error=error, context=context,
        )
        try:
            self.observer(record)
        except Exception:
            # The timeline is for people; it must never break a payment.
            logger.exception("could not record a PSP call")


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_of(answer: Any, response: requests.Response) -> tuple[str, str]:
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, dict):
        # The PSP's own text may quote the token it was given.
        code, message = str(error.get("code", "unknown"))[:64], str(error.get("message", ""))
        return parse.mask_tokens(code), parse.mask_tokens(message)
    return "unknown", response.reason or ""


def _redact_path(path: str) -> str:
    # Session tokens travel in the path of GET /v1/sessions/{token}.
    return parse.mask_tokens(path)
