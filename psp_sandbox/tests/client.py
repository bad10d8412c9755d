"""A thin client for the tests: the contract's requests, nothing more."""

from __future__ import annotations

import time
import uuid
from typing import Any

import requests

from .sandbox_process import API_KEY

JSON = dict[str, Any]


class Psp:
    def __init__(self, url: str, webhook_url: str, api_key: str = API_KEY) -> None:
        self.url = url
        self.webhook_url = webhook_url
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {api_key}"

    def post(self, path: str, body: object = None, *, key: str | None = "new", **kwargs: Any) -> requests.Response:
        """POST with a fresh Idempotency-Key unless `key` is given (None: no key)."""
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["Idempotency-Key"] = uuid.uuid4().hex if key == "new" else key
        return self.http.post(self.url + path, json=body, headers=headers, timeout=15, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.url + path, timeout=15, **kwargs)

    def create_session(self, amount: str = "12.50", currency: str = "EUR") -> JSON:
        body = {"checkout_id": uuid.uuid4().hex, "amount": amount, "currency": currency}
        answer = self.post("/v1/sessions", body)
        assert answer.status_code == 201, answer.text
        session: JSON = answer.json()
        return session

    def payment_body(self, session: JSON, method: str = "pm_card_visa", **overrides: Any) -> JSON:
        body = {
            "token": session["token"],
            "amount": session["amount"],
            "currency": session["currency"],
            "payment_method": method,
            "redirect_url": "https://shop.example/checkout/return?step=2",
            "webhook_url": self.webhook_url,
        }
        return {**body, **overrides}

    def pay(
        self,
        session: JSON,
        method: str = "pm_card_visa",
        *,
        key: str | None = "new",
        **overrides: Any,
    ) -> requests.Response:
        return self.post("/v1/payments", self.payment_body(session, method, **overrides), key=key)

    def paid(self, method: str = "pm_card_visa", **overrides: Any) -> JSON:
        """A new session paid with `method`: the payment object."""
        answer = self.pay(self.create_session(), method, **overrides)
        assert answer.status_code == 201, answer.text
        payment: JSON = answer.json()
        return payment

    def payment(self, payment_id: str) -> JSON:
        answer = self.get(f"/v1/payments/{payment_id}")
        assert answer.status_code == 200, answer.text
        payment: JSON = answer.json()
        return payment

    def session(self, token: str) -> JSON:
        answer = self.get(f"/v1/sessions/{token}")
        assert answer.status_code == 200, answer.text
        session: JSON = answer.json()
        return session

    def refund(self, payment: JSON, amount: str, **overrides: Any) -> requests.Response:
        body = {"amount": amount, "currency": payment["currency"], **overrides}
        return self.post(f"/v1/payments/{payment['id']}/refunds", body)

    def arm(self, body: JSON) -> JSON:
        answer = self.http.post(self.url + "/sandbox/faults", json=body, timeout=15)
        assert answer.status_code == 200, answer.text
        armed: JSON = answer.json()
        return armed

    def wait_for(self, path: str, field: str, value: object, timeout: float = 10.0) -> JSON:
        """GET `path` until its `field` equals `value`."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.get(path)
            current: JSON = answer.json()
            if current.get(field) == value:
                return current
            if time.monotonic() > deadline:
                raise AssertionError(f"{path}: {field} is {current.get(field)!r}, not {value!r}")
            time.sleep(0.05)
