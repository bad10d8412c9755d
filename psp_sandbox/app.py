"""The request pipeline: bearer key, routing, faults, idempotency, transaction.

Order for every request: key (401) → route (404/405) → fault taken (FIFO) →
error_before answers 500 with nothing done → the handler (a /v1/ POST runs
in one write transaction that also stores its idempotent answer) → the
fault's after-effect (500, dropped connection, or held answer).
"""

from __future__ import annotations

import hmac
import json
import logging
from functools import partial

from . import clock
from .api import Call
from .errors import ApiError, invalid_request
from .faults import Fault, FaultRegistry
from .idempotency import Claim, IdempotencyKeys, Replay, fingerprint, header_key
from .messages import Request, Response, error_response, internal_error
from .objects import dumps
from .router import MethodNotAllowed, Route, Router
from .store import Database

log = logging.getLogger("psp_sandbox")

# Everything but the shopper's pages needs the bearer key, known path or not.
KEYED_PREFIXES = ("/v1/", "/sandbox/faults", "/sandbox/sessions/")


def parse_json_object(raw: bytes) -> dict[str, object]:
    try:
        body = json.loads(raw, parse_constant=_reject_constant) if raw else None
    except (ValueError, RecursionError) as exc:
        raise invalid_request(f"the body is not valid JSON: {exc}", 400) from exc
    if not isinstance(body, dict):
        raise invalid_request("the body must be a JSON object", 400)
    return body


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


class App:
    def __init__(
        self,
        *,
        api_key: str,
        db: Database,
        router: Router,
        faults: FaultRegistry,
        keys: IdempotencyKeys,
    ) -> None:
        self._api_key = api_key.encode()
        self._db = db
        self._router = router
        self._faults = faults
        self._keys = keys

    def handle(self, request: Request) -> Response:
        try:
            if request.path.startswith(KEYED_PREFIXES):
                self._authenticate(request)
            route, params = self._router.match(request.method, request.path)
        except MethodNotAllowed as exc:
            response = error_response(exc)
            response.headers.append(("Allow", ", ".join(exc.allowed)))
            return response
        except ApiError as exc:
            return error_response(exc)
        fault = self._faults.take(request.path) if route.faultable else None
        if fault is not None and fault.fault == "error_before":
            return internal_error()
        response = self._process(route, params, request)
        return _after(fault, response) if fault is not None else response

    def _authenticate(self, request: Request) -> None:
        scheme, _, key = (request.headers.get("Authorization") or "").partition(" ")
        valid = scheme.lower() == "bearer" and hmac.compare_digest(key.strip().encode(), self._api_key)
        if not valid:
            raise ApiError(401, "unauthorized", "missing or wrong bearer key")

    def _process(self, route: Route, params: dict[str, str], request: Request) -> Response:
        try:
            if route.kind == "write":
                return self._write(route, params, request)
            if route.kind == "read":
                with self._db.read() as conn:
                    value = route.handler(conn, Call(request, params, {}))
                return Response(200, dumps(value))
            needs_body = route.kind == "admin" and request.method == "POST"
            body = parse_json_object(request.body) if needs_body else {}
            response: Response = route.handler(Call(request, params, body))
            return response
        except ApiError as exc:
            return error_response(exc)
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return internal_error()

    def _write(self, route: Route, params: dict[str, str], request: Request) -> Response:
        key = header_key(request.headers)
        body = parse_json_object(request.body)
        call = Call(request, params, body)
        if key is None:
            return self._transact(route, call, None)
        print_ = fingerprint(request.method, request.path, body)
        outcome = self._keys.begin(self._api_key.decode(), key, print_, clock.now())
        if isinstance(outcome, Replay):
            return Response(outcome.status, outcome.body, headers=[("Idempotent-Replayed", "true")])
        try:
            response = self._transact(route, call, outcome)
        except BaseException:
            self._keys.release(outcome)
            raise
        response.on_done = partial(self._keys.release, outcome)
        return response

    def _transact(self, route: Route, call: Call, claim: Claim | None) -> Response:
        """Run a write handler; its answer, 4xx included, is stored under the
        idempotency key in the same transaction as its changes."""
        try:
            with self._db.write() as tx:
                status, value = route.handler(tx, call)
                body = dumps(value)
                if claim is not None:
                    self._keys.record(tx, claim, status, body, clock.now())
            return Response(status, body)
        except ApiError as exc:
            body = dumps(exc.body())
            if claim is not None:
                with self._db.write() as tx:
                    self._keys.record(tx, claim, exc.status, body, clock.now())
            return Response(exc.status, body)


def _after(fault: Fault, response: Response) -> Response:
    if fault.fault == "error_after":
        failed = internal_error()
        failed.on_done = response.on_done
        return failed
    if fault.fault == "drop_after":
        response.drop = True
    else:
        response.hold = fault.slow_seconds
    return response
