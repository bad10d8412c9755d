"""The storefront API and Buy Now fuzzed against their own OpenAPI schema with schemathesis.

The WSGI app runs in this process on the test's PostgreSQL transaction; the PSP is replaced at
its HTTP boundary by `responses`, answering with docs/psp-protocol.md's objects. Most generated requests are
aimed at a few real checkouts (with their real tokens and payable amounts) so that Buy Now and
refunds reach the code behind the 404. Every answer must be documented in the schema (status,
content type, body) and every 4xx must have the contract's error shape.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import responses
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from checkout.tests.factories import make_api_key, make_checkout, make_storefront
from payments.states import AttemptStatus, CheckoutStatus
from payments.tests.factories import PSP, make_attempt, payment_json, refund_json, session_json
from paysite.wsgi import application

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)

# Checkouts that exist during the run, by a fixed id, so that generation can aim at them: open
# ones to pay (in three currencies), a paid one with plenty left to refund, an expired one.
OPEN_EUR = uuid.UUID("6f1c0000-0000-4000-8000-000000000001")
OPEN_JPY = uuid.UUID("6f1c0000-0000-4000-8000-000000000002")
OPEN_KWD = uuid.UUID("6f1c0000-0000-4000-8000-000000000003")
PAID = uuid.UUID("6f1c0000-0000-4000-8000-000000000004")
EXPIRED = uuid.UUID("6f1c0000-0000-4000-8000-000000000005")
REAL_IDS = [OPEN_EUR, OPEN_JPY, OPEN_KWD, PAID, EXPIRED]
STOREFRONT = "fuzz"
TOKENS = {checkout_id: f"tok_fuzz_{checkout_id.hex[-4:]}" for checkout_id in REAL_IDS}
AMOUNTS = ["5.00", "99999999.99", "0.01", "12.50", "1200", "1.250", "12.5", "100000.00"]
CURRENCIES = ["EUR", "JPY", "KWD", "XXX"]
# Declined first: a failed attempt leaves the checkout open, so the next Buy Now makes a new one.
METHODS = ["pm_card_declined", "pm_card_visa", "pm_card_3ds", "pm_bank_transfer", "pm_unknown"]

FUZZ = settings(
    max_examples=200, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def contract_error_shape(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """Every 4xx is {"error": {"code": <snake_case>, "message": <str>, "fields": <object>}}."""
    if not 400 <= response.status_code < 500:
        return None
    body = json.loads(response.content)
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(body, dict) and set(body) == {"error"}, f"not the contract's error shape: {body!r}"
    assert isinstance(error, dict) and set(error) == {"code", "message", "fields"}, f"bad error object: {error!r}"
    assert isinstance(error["code"], str) and SNAKE_CASE.match(error["code"]), f"bad code: {error['code']!r}"
    assert isinstance(error["message"], str) and error["message"], f"bad message: {error['message']!r}"
    assert isinstance(error["fields"], dict), f"bad fields: {error['fields']!r}"
    return None


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@schema.hook
def flatmap_case(context: schemathesis.HookContext, case: schemathesis.Case) -> st.SearchStrategy[schemathesis.Case]:
    """Aim most cases at a real checkout, with its real token, known payment methods, amounts it can
    be paid or refunded with and a fresh Idempotency-Key; the rest keep what schemathesis made
    (random ids, wrong tokens, odd amounts, reused keys). The first choice of each list is the one
    Hypothesis's simplest examples get, so it is the one that reaches the deepest."""
    path_parameters = dict(case.path_parameters or {})
    body = dict(case.body) if isinstance(case.body, dict) else None
    headers = dict(case.headers or {})

    def aim(choice: tuple[uuid.UUID | None, bool, str | None, str | None, str | None, uuid.UUID | None]) -> Any:
        checkout_id, real_token, amount, currency, method, idempotency_key = choice
        case.path_parameters = dict(path_parameters)
        case.body = dict(body) if body is not None else case.body
        case.headers = dict(headers)
        if checkout_id is not None and "checkout_id" in path_parameters:
            case.path_parameters["checkout_id"] = str(checkout_id)
        if idempotency_key is not None and "Idempotency-Key" in headers:
            case.headers["Idempotency-Key"] = f"fuzz-{idempotency_key}"
        if isinstance(case.body, dict):
            for field, value in (("payment_method", method), ("amount", amount), ("currency", currency)):
                if field in case.body and value is not None:
                    case.body[field] = value
            if "token" in case.body and real_token and checkout_id is not None:
                case.body["token"] = TOKENS[checkout_id]
        return case

    targets = [PAID, *REAL_IDS, None] if context.operation.path.endswith("/refunds/") else [*REAL_IDS, None]
    return st.tuples(
        st.sampled_from(targets), st.sampled_from([True, True, False]),
        st.sampled_from([*AMOUNTS, None]), st.sampled_from([*CURRENCIES, None]), st.sampled_from([*METHODS, None]),
        st.one_of(st.uuids(), st.none()),
    ).map(aim)


def _psp_session(request: Any) -> tuple[int, dict[str, str], str]:
    sent = json.loads(request.body)
    return 201, {}, json.dumps(session_json(checkout_id=sent["checkout_id"], amount=sent["amount"],
                                            currency=sent["currency"], description=sent.get("description", "")))


def _psp_payment(request: Any) -> tuple[int, dict[str, str], str]:
    sent = json.loads(request.body)
    method = sent["payment_method"]
    outcome: dict[str, Any] = {"status": "succeeded"}
    if method == "pm_card_declined":
        outcome = {"status": "failed", "failure_code": "card_declined", "failure_message": "Declined."}
    elif method == "pm_card_3ds":
        outcome = {"status": "requires_action", "next_action": {"type": "redirect", "url": f"{PSP}/3ds/x"}}
    elif method == "pm_bank_transfer":
        outcome = {"status": "pending"}
    payment = payment_json(token=sent["token"], amount=sent["amount"], currency=sent["currency"],
                           payment_method=method, metadata=sent["metadata"], **outcome)
    return 201, {}, json.dumps(payment)


def _psp_refund(request: Any) -> tuple[int, dict[str, str], str]:
    sent = json.loads(request.body)
    payment_id = request.url.split("/v1/payments/")[1].split("/")[0]
    return 201, {}, json.dumps(refund_json(payment_id, amount=sent["amount"], currency=sent["currency"],
                                           status="succeeded"))


@pytest.fixture
def psp(psp_stub: responses.RequestsMock) -> responses.RequestsMock:
    psp_stub.add_callback("POST", f"{PSP}/v1/sessions", callback=_psp_session, content_type="application/json")
    psp_stub.add_callback("POST", f"{PSP}/v1/payments", callback=_psp_payment, content_type="application/json")
    psp_stub.add_callback("POST", re.compile(rf"{PSP}/v1/payments/[^/]+/refunds"), callback=_psp_refund,
                          content_type="application/json")
    return psp_stub


@pytest.fixture
def in_process(db: None) -> Iterator[None]:
    """The WSGI app shares the test's connection and transaction, as Django's test client does:
    a request's end must not close the connection (the test's data would vanish with it)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def checkouts(in_process: None) -> None:
    """The checkouts of the storefront whose key the fuzzer holds (another's would be 404)."""
    ours = make_storefront(STOREFRONT)
    make_checkout(id=OPEN_EUR, psp_token=TOKENS[OPEN_EUR], storefront=ours)
    make_checkout(id=OPEN_JPY, psp_token=TOKENS[OPEN_JPY], amount=Decimal("1200"), currency="JPY", storefront=ours)
    make_checkout(id=OPEN_KWD, psp_token=TOKENS[OPEN_KWD], amount=Decimal("1.250"), currency="KWD", storefront=ours)
    paid = make_checkout(id=PAID, psp_token=TOKENS[PAID], status=CheckoutStatus.PAID, amount=Decimal("100000.00"),
                         storefront=ours)
    make_attempt(paid, status=AttemptStatus.SUCCEEDED, psp_payment_id="pay_fuzz", psp_version=1)
    make_checkout(id=EXPIRED, psp_token=TOKENS[EXPIRED], expires_at=timezone.now() - timedelta(hours=1),
                  storefront=ours)


@pytest.fixture
def api_key(db: None) -> str:
    _record, key = make_api_key(STOREFRONT)
    return key


@pytest.fixture
def reached() -> Iterator[Counter[tuple[str, int]]]:
    """What one operation answered during its run, by (method, status); the run is one test.

    A fuzzer whose every request is refused tests nothing but the refusals: after the run, a GET
    must have answered 200 and a POST must have made something (201) at least once."""
    answers: Counter[tuple[str, int]] = Counter()
    yield answers
    for method in {method for method, _status in answers}:
        expected = 201 if method == "POST" else 200
        assert answers[(method, expected)], f"{method} never got past the refusals: {dict(answers)}"


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@schema.parametrize()
@FUZZ
def test_the_api_keeps_its_contract_with_a_valid_api_key(case, psp, checkouts, api_key, reached):
    # when any request, valid or not, is sent with a live storefront key
    # then (the checks) no 5xx, every answer is documented, every refusal is in the contract's shape
    response = case.call_and_validate(headers={"Authorization": f"Bearer {api_key}"}, checks=CHECKS,
                                      additional_checks=[contract_error_shape])
    if case.method.upper() == case.operation.method.upper():  # not one of schemathesis's other-method probes
        reached[(case.method.upper(), response.status_code)] += 1


@schema.parametrize()
@FUZZ
def test_the_api_keeps_its_contract_without_an_api_key(case, psp, checkouts):
    # given no API key at all
    case.headers = {name: value for name, value in (case.headers or {}).items() if name.lower() != "authorization"}
    # when any request is sent (the checks as above)
    response = case.call_and_validate(checks=CHECKS, additional_checks=[contract_error_shape])
    # then the storefront API refuses it before reading it (Buy Now takes no key), or there is no such route
    checkout_id = (case.path_parameters or {}).get("checkout_id", "")
    if case.operation.path != "/api/checkouts/{checkout_id}/buy-now/" and case.method.upper() in ("GET", "POST"):
        assert response.status_code == 401 or (response.status_code == 404 and not _is_uuid(str(checkout_id)))


# --- What the fuzzer found, pinned as plain tests ------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"amount": "12.50", "currency": "EUR", "unknown\u0000field": 1},  # an unknown field's name is echoed back
        {"amount": "12.50", "currency": "EUR", "description": "Order\u00001042"},
        {"amount": "12.50", "currency": "EUR", "reference": ["\u0000"]},
    ],
    ids=["unknown-field-name", "field-value", "nested-value"],
)
def test_a_nul_character_anywhere_in_the_body_is_a_400_even_with_an_idempotency_key(api_client, psp_stub, body):
    # given a body with "\u0000" somewhere (PostgreSQL stores it in neither text nor jsonb)
    # when it is posted with an Idempotency-Key, whose answer is kept for replays
    response = api_client.post("/api/checkouts/", data=json.dumps(body), content_type="application/json",
                               HTTP_IDEMPOTENCY_KEY="order-1042")
    # then it is refused as invalid input, not a 500, and the PSP was never asked
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert len(psp_stub.calls) == 0
    # and the same request again replays the same refusal
    again = api_client.post("/api/checkouts/", data=json.dumps(body), content_type="application/json",
                            HTTP_IDEMPOTENCY_KEY="order-1042")
    assert (again.status_code, again.json()) == (400, response.json())


# Refusals the fuzzer does not reach by itself (its bodies are small and JSON), sent on purpose.
UNREACHED = [
    ("/api/checkouts/", "oversized"), ("/api/checkouts/", "not_json"),
    ("/api/checkouts/{checkout_id}/refunds/", "oversized"), ("/api/checkouts/{checkout_id}/refunds/", "not_json"),
    ("/api/checkouts/{checkout_id}/buy-now/", "oversized"), ("/api/checkouts/{checkout_id}/buy-now/", "not_json"),
]


@pytest.mark.parametrize(("path", "body"), UNREACHED)
def test_the_refusals_the_fuzzer_does_not_reach_are_documented_too(checkouts, api_key, settings, path, body):
    # given a POST with a body over the limit, or one that is not JSON
    operation = schema[path]["POST"]
    if body == "oversized":
        case = operation.Case(path_parameters={"checkout_id": str(PAID)},
                              body={"reason": "x" * (settings.API_MAX_BODY_BYTES + 1)}, media_type="application/json")
    else:
        case = operation.Case(path_parameters={"checkout_id": str(PAID)}, body="amount=5.00", media_type="text/plain")
    # when it is sent with a live key
    response = case.call_and_validate(headers={"Authorization": f"Bearer {api_key}"}, checks=CHECKS,
                                      additional_checks=[contract_error_shape])
    # then it is the documented refusal, in the contract's shape (the checks)
    assert response.status_code == (413 if body == "oversized" else 415)
