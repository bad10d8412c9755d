"""The endpoints: parse input, call one function that does the work, answer.

Write handlers get an open transaction and return (status, object); the
pipeline in app.py wraps them with auth, faults and idempotency.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from . import clock, validation
from .config import Config
from .errors import invalid_request, not_found
from .events import EventWriter
from .faults import FaultRegistry, is_valid_kind
from .home import HEADERS as HOME_HEADERS
from .home import home_page, load_overview
from .messages import Request, Response, json_response
from .objects import JsonObject, payment_json, refund_json
from .pages import return_url, three_ds_page
from .payments import (
    PaymentContext,
    payment_authenticate,
    payment_create,
    payment_find,
    payment_get,
)
from .refunds import refund_create, refund_get
from .router import Router
from .sessions import session_create, session_payments, session_view
from .store import Database, Tx


@dataclass(frozen=True)
class Call:
    request: Request
    params: dict[str, str]
    body: Mapping[str, object]


class Api:
    def __init__(
        self,
        config: Config,
        db: Database,
        events: EventWriter,
        faults: FaultRegistry,
        wake_settler: Callable[[], None],
    ) -> None:
        self._config = config
        self._db = db
        self._events = events
        self._faults = faults
        self._settle_after = config.settle_delay * config.time_scale
        self._wake_settler = wake_settler

    def routes(self) -> Router:
        router = Router()
        # A browser's landing page; it never uses up an armed fault.
        router.add("GET", "/", self.home, kind="page", faultable=False)
        router.add("POST", "/v1/sessions", self.create_session, kind="write")
        router.add("GET", "/v1/sessions/{token}", self.get_session, kind="read")
        router.add("POST", "/v1/payments", self.create_payment, kind="write")
        router.add("GET", "/v1/payments/{payment_id}", self.get_payment, kind="read")
        router.add(
            "POST",
            "/v1/payments/{payment_id}/refunds",
            self.create_refund,
            kind="write",
        )
        router.add("GET", "/v1/refunds/{refund_id}", self.get_refund, kind="read")
        router.add("GET", "/sandbox/3ds/{payment_id}", self.show_3ds, kind="page")
        router.add("POST", "/sandbox/3ds/{payment_id}/approve", self.approve_3ds, kind="page")
        router.add("POST", "/sandbox/3ds/{payment_id}/decline", self.decline_3ds, kind="page")
        router.add("GET", "/sandbox/faults", self.list_faults, kind="admin", faultable=False)
        router.add("POST", "/sandbox/faults", self.arm_faults, kind="admin", faultable=False)
        router.add(
            "DELETE",
            "/sandbox/faults",
            self.clear_faults,
            kind="admin",
            faultable=False,
        )
        router.add("GET", "/sandbox/health", self.health, kind="page", faultable=False)
        router.add(
            "GET", "/sandbox/sessions/{token}/payments", self.list_session_payments, kind="read", faultable=False
        )
        return router

    # /v1/ API -------------------------------------------------------------

    def create_session(self, tx: Tx, call: Call) -> tuple[int, JsonObject]:
        request = validation.session_request(call.body)
        return session_create(tx, request=request, ttl=self._config.session_ttl, now=clock.now())

    def get_session(self, conn: sqlite3.Connection, call: Call) -> JsonObject:
        return session_view(conn, call.params["token"], clock.now())

    def create_payment(self, tx: Tx, call: Call) -> tuple[int, JsonObject]:
        request = validation.payment_request(call.body)
        ctx = PaymentContext(self._events, call.request.base_url, self._settle_after)
        status, payment = payment_create(tx, ctx, request=request, now=clock.now())
        if payment["status"] == "pending":
            tx.on_commit(self._wake_settler)
        return status, payment

    def get_payment(self, conn: sqlite3.Connection, call: Call) -> JsonObject:
        return payment_json(payment_get(conn, call.params["payment_id"]))

    def create_refund(self, tx: Tx, call: Call) -> tuple[int, JsonObject]:
        request = validation.refund_request(call.body)
        result = refund_create(
            tx,
            payment_id=call.params["payment_id"],
            request=request,
            now=clock.now(),
            settle_after=self._settle_after,
        )
        tx.on_commit(self._wake_settler)
        return result

    def get_refund(self, conn: sqlite3.Connection, call: Call) -> JsonObject:
        return refund_json(refund_get(conn, call.params["refund_id"]))

    def list_session_payments(self, conn: sqlite3.Connection, call: Call) -> JsonObject:
        """Sandbox only: every payment ever made with a token, oldest first, so that tests can
        count charges (the contract's API shows only the latest)."""
        return {"data": [payment_json(row) for row in session_payments(conn, call.params["token"])]}

    # the home page (no bearer key: it is a browser; read-only, nothing secret) --

    def home(self, call: Call) -> Response:
        with self._db.read() as conn:
            overview = load_overview(conn)
        body = home_page(
            base_url=call.request.base_url,
            config=self._config,
            overview=overview,
            faults=self._faults.as_json(),
        )
        return Response(200, body, content_type="text/html; charset=utf-8", headers=list(HOME_HEADERS))

    # the shopper's 3-D Secure page (no bearer key: it is a browser) ---------

    def show_3ds(self, call: Call) -> Response:
        with self._db.read() as conn:
            payment = payment_find(conn, call.params["payment_id"])
        if payment is None:
            raise not_found("payment")
        return Response(200, three_ds_page(payment), content_type="text/html; charset=utf-8")

    def approve_3ds(self, call: Call) -> Response:
        return self._answer_3ds(call, approved=True)

    def decline_3ds(self, call: Call) -> Response:
        return self._answer_3ds(call, approved=False)

    def _answer_3ds(self, call: Call, *, approved: bool) -> Response:
        with self._db.write() as tx:
            payment = payment_authenticate(
                tx,
                self._events,
                call.params["payment_id"],
                approved=approved,
                now=clock.now(),
            )
        location = return_url(payment["redirect_url"], token=payment["token"], payment_id=payment["id"])
        return Response(303, b"", headers=[("Location", location)], content_type="text/plain")

    # fault injection --------------------------------------------------------

    def list_faults(self, call: Call) -> Response:
        return json_response(200, self._faults.as_json())

    def clear_faults(self, call: Call) -> Response:
        self._faults.clear()
        return json_response(200, self._faults.as_json())

    def arm_faults(self, call: Call) -> Response:
        body = call.body
        validation.check_keys(body, set(), {"path", "fault", "times", "webhooks"})
        knobs = _webhook_knobs(body.get("webhooks"))
        fault = _fault(body)
        if fault is None and knobs is None:
            raise invalid_request("give a fault (path and fault) or webhooks settings")
        if fault is not None:
            self._faults.arm(*fault)
        if knobs is not None:
            self._faults.set_knobs(knobs)
        return json_response(200, self._faults.as_json())

    def health(self, call: Call) -> Response:
        return json_response(200, {"status": "ok"})


def _fault(body: Mapping[str, object]) -> tuple[str, str, int] | None:
    if "path" not in body and "fault" not in body and "times" not in body:
        return None
    path, kind, times = body.get("path"), body.get("fault"), body.get("times", 1)
    if not isinstance(path, str) or not path.startswith("/"):
        raise invalid_request("path must be a string starting with /")
    if not isinstance(kind, str) or not is_valid_kind(kind):
        raise invalid_request("fault must be error_before, error_after, drop_after or slow:<seconds>")
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise invalid_request("times must be a positive integer")
    return path, kind, times


def _webhook_knobs(value: object) -> dict[str, object] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_request("webhooks must be an object")
    validation.check_keys(value, set(), {"duplicate", "drop", "reorder"})
    for name in ("duplicate", "drop"):
        chance = value.get(name, 0.0)
        if isinstance(chance, bool) or not isinstance(chance, (int, float)) or not 0 <= chance <= 1:
            raise invalid_request(f"webhooks.{name} must be a number from 0 to 1")
    if not isinstance(value.get("reorder", False), bool):
        raise invalid_request("webhooks.reorder must be true or false")
    return value
