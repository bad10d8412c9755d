"""Authentication, the error shape, and 400 versus 422."""

from __future__ import annotations

import uuid

import pytest
import requests

from .client import Psp
from .sandbox_process import SandboxProcess

pytestmark = pytest.mark.sandbox

ENDPOINTS = [
    ("POST", "/v1/sessions"),
    ("GET", "/v1/sessions/tok_x"),
    ("POST", "/v1/payments"),
    ("GET", "/v1/payments/pay_x"),
    ("POST", "/v1/payments/pay_x/refunds"),
    ("GET", "/v1/refunds/re_x"),
    ("GET", "/v1/unknown"),
    ("GET", "/sandbox/faults"),
    ("POST", "/sandbox/faults"),
    ("DELETE", "/sandbox/faults"),
]


def _assert_error(answer: requests.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    error = answer.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    assert set(answer.json()) == {"error"}
    assert set(error) == {"code", "message"}


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", "Bearer ", "Basic c2tfdGVzdA==", "sk_test_contract"],
)
def test_a_missing_or_wrong_key_is_401(
    sandbox: SandboxProcess, method: str, path: str, authorization: str | None
) -> None:
    # given a request without the right bearer key
    headers = {} if authorization is None else {"Authorization": authorization}
    # when it is sent
    answer = requests.request(method, sandbox.url + path, json={}, headers=headers, timeout=10)
    # then it is 401 unauthorized, whatever it asked for
    _assert_error(answer, 401, "unauthorized")


@pytest.mark.parametrize(
    "body",
    [b"[]", b'"text"', b"1", b"null", b"{not json", b"", b"\xff\xfe", b'{"a": NaN}'],
)
def test_a_body_that_is_not_a_json_object_is_400(psp: Psp, body: bytes) -> None:
    # given a POST whose body is not a JSON object
    # when it is sent
    answer = psp.http.post(psp.url + "/v1/sessions", data=body, timeout=10)
    # then it is 400 invalid_request
    _assert_error(answer, 400, "invalid_request")


@pytest.mark.parametrize("key", ["", "x" * 256, "clé", "tab\there"])
def test_a_malformed_idempotency_key_is_400(psp: Psp, key: str) -> None:
    # given an Idempotency-Key outside 1 to 255 printable ASCII characters
    body = {"checkout_id": uuid.uuid4().hex, "amount": "1.00", "currency": "EUR"}
    # when it is sent
    answer = psp.post("/v1/sessions", body, key=key)
    # then it is 400 invalid_request and nothing is made
    _assert_error(answer, 400, "invalid_request")


def test_an_idempotency_key_of_255_characters_is_fine(psp: Psp) -> None:
    body = {"checkout_id": uuid.uuid4().hex, "amount": "1.00", "currency": "EUR"}
    assert psp.post("/v1/sessions", body, key="k" * 255).status_code == 201


SESSION_422 = [
    ({"amount": "1.00", "currency": "EUR"}, "missing checkout_id"),
    ({"checkout_id": "c", "currency": "EUR"}, "missing amount"),
    ({"checkout_id": "c", "amount": "1.00"}, "missing currency"),
    (
        {"checkout_id": "c", "amount": "1.00", "currency": "EUR", "colour": "red"},
        "unknown field",
    ),
    (
        {"checkout_id": 42, "amount": "1.00", "currency": "EUR"},
        "checkout_id not a string",
    ),
    ({"checkout_id": "", "amount": "1.00", "currency": "EUR"}, "empty checkout_id"),
    (
        {"checkout_id": "x" * 65, "amount": "1.00", "currency": "EUR"},
        "checkout_id too long",
    ),
    (
        {"checkout_id": "a b", "amount": "1.00", "currency": "EUR"},
        "checkout_id bad characters",
    ),
    (
        {"checkout_id": "c", "amount": "1.00", "currency": "EUR", "description": 7},
        "description type",
    ),
    (
        {
            "checkout_id": "c",
            "amount": "1.00",
            "currency": "EUR",
            "description": "d" * 256,
        },
        "description long",
    ),
]


@pytest.mark.parametrize(("body", "case"), SESSION_422, ids=[case for _, case in SESSION_422])
def test_a_missing_unknown_or_ill_typed_session_field_is_422(psp: Psp, body: dict[str, object], case: str) -> None:
    answer = psp.post("/v1/sessions", body)
    _assert_error(answer, 422, "invalid_request")


BAD_URLS = [
    "ftp://shop.example/x",
    "/checkout/return",
    "http://",
    "shop.example/return",
    "not a url",
    "javascript:alert(1)",
    "https://shop.example:99999/x",
    "http://exa mple.com/",
    42,
    None,
    "",
]


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.parametrize("field", ["redirect_url", "webhook_url"])
def test_a_url_that_is_not_absolute_http_is_422(psp: Psp, field: str, url: object) -> None:
    # given a session and a payment whose URL is not an absolute http(s) URL
    session = psp.create_session()
    # when it is sent
    answer = psp.post("/v1/payments", {**psp.payment_body(session), field: url})
    # then it is 422 invalid_request and no payment is made
    _assert_error(answer, 422, "invalid_request")
    assert psp.session(session["token"])["latest_payment"] is None


PAYMENT_422 = [
    ({"metadata": [1, 2]}, "metadata not an object"),
    ({"metadata": {"n": 1}}, "metadata value not a string"),
    ({"metadata": {"n": None}}, "metadata value null"),
    ({"metadata": {"n": "v" * 501}}, "metadata value too long"),
    ({"metadata": {f"k{n}": "v" for n in range(21)}}, "21 metadata keys"),
    ({"token": 5}, "token not a string"),
    ({"colour": "red"}, "unknown field"),
]


@pytest.mark.parametrize(("overrides", "case"), PAYMENT_422, ids=[case for _, case in PAYMENT_422])
def test_bad_payment_fields_and_metadata_are_422(psp: Psp, overrides: dict[str, object], case: str) -> None:
    answer = psp.post("/v1/payments", {**psp.payment_body(psp.create_session()), **overrides})
    _assert_error(answer, 422, "invalid_request")


@pytest.mark.parametrize(
    "missing",
    ["token", "amount", "currency", "payment_method", "redirect_url", "webhook_url"],
)
def test_a_missing_payment_field_is_422(psp: Psp, missing: str) -> None:
    body = psp.payment_body(psp.create_session())
    del body[missing]
    answer = psp.post("/v1/payments", body)
    _assert_error(answer, 422, "invalid_request")


def test_metadata_at_the_limits_is_echoed_back(psp: Psp) -> None:
    # given metadata of 20 values of 500 characters
    metadata = {f"key_{n}": str(n) * 500 if n < 10 else "é" * 500 for n in range(20)}
    metadata = {key: value[:500] for key, value in metadata.items()}
    # when a payment carries it
    payment = psp.paid(metadata=metadata)
    # then it is echoed back, by the answer and by GET
    assert payment["metadata"] == metadata
    assert psp.payment(payment["id"])["metadata"] == metadata


def test_unknown_ids_are_404_not_found(psp: Psp) -> None:
    for path in [
        "/v1/sessions/tok_nope",
        "/v1/payments/pay_nope",
        "/v1/refunds/re_nope",
    ]:
        _assert_error(psp.get(path), 404, "not_found")
    _assert_error(
        psp.post("/v1/payments/pay_nope/refunds", {"amount": "1.00", "currency": "EUR"}),
        404,
        "not_found",
    )


def test_an_unknown_path_is_404_and_a_wrong_method_405(psp: Psp) -> None:
    _assert_error(psp.get("/v1/nothing/here"), 404, "not_found")
    _assert_error(psp.get("/index.html"), 404, "not_found")
    _assert_error(psp.get("/v1/sessions"), 405, "method_not_allowed")
    _assert_error(
        psp.http.delete(psp.url + "/v1/payments/pay_x", timeout=10),
        405,
        "method_not_allowed",
    )
    _assert_error(
        psp.http.put(psp.url + "/v1/sessions", json={}, timeout=10),
        405,
        "method_not_allowed",
    )
