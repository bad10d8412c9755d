"""POST and GET /api/checkouts/: the storefront starts a checkout and reads it back."""

import json

import pytest
import requests

from checkout.models import ApiKey, Checkout
from checkout.tests.factories import make_checkout
from payments.models import PspCall
from payments.states import AttemptStatus
from payments.tests.factories import PSP, make_attempt, session_json

pytestmark = pytest.mark.django_db

BODY = {
    "amount": "12.50", "currency": "EUR", "description": "Order 1042", "reference": "order-1042",
    "success_url": "http://127.0.0.1:8000/thanks", "failure_url": "http://localhost/cart",
}


def _post(client, body, **headers):
    return client.post("/api/checkouts/", data=json.dumps(body), content_type="application/json", **headers)


def _session_ok(psp_stub, **fields):
    psp_stub.post(f"{PSP}/v1/sessions", json=session_json(token="tok_new", **fields), status=201)


def test_a_checkout_is_registered_at_the_psp_and_stored_with_its_token(api_client, psp_stub):
    # given the PSP registers sessions
    _session_ok(psp_stub)
    # when the storefront starts a checkout
    response = _post(api_client, BODY)
    # then it gets the checkout object, and the PSP got the checkout id as a retry-safe key
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "open" and body["token"] == "tok_new" and body["amount"] == "12.50"
    assert body["purchase_url"] == f"http://127.0.0.1:8000/checkout/{body['id']}/"
    assert body["payment"] is None
    sent = json.loads(psp_stub.calls[0].request.body)
    assert sent == {"checkout_id": body["id"], "amount": "12.50", "currency": "EUR", "description": "Order 1042"}
    assert psp_stub.calls[0].request.headers["Idempotency-Key"] == f"bps-session-{body['id']}"
    assert Checkout.objects.get(id=body["id"]).psp_token == "tok_new"
    assert PspCall.objects.filter(checkout_id=body["id"]).count() == 1


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"amount": "12.5"}, "invalid_amount", "amount"),
        ({"amount": 12.5}, "invalid_amount", "amount"),
        ({"amount": "0.00"}, "invalid_amount", "amount"),
        ({"amount": "-1.00"}, "invalid_amount", "amount"),
        ({"amount": "1200.00", "currency": "JPY"}, "invalid_amount", "amount"),
        ({"amount": "1.25", "currency": "KWD"}, "invalid_amount", "amount"),
        ({"currency": "XXX"}, "invalid_currency", "currency"),
        ({"currency": "eur"}, "invalid_currency", "currency"),
        ({"currency": 978}, "invalid_currency", "currency"),
        ({"description": "x" * 256}, "invalid_request", "description"),
        ({"description": ["a"]}, "invalid_request", "description"),
        ({"success_url": "https://evil.example/steal"}, "invalid_request", "success_url"),
        ({"failure_url": "javascript:alert(1)"}, "invalid_request", "failure_url"),
        ({"colour": "red"}, "invalid_request", "colour"),
    ],
)
def test_bad_input_is_a_400_that_names_the_field_and_stores_nothing(api_client, psp_stub, change, code, field):
    _session_ok(psp_stub)
    response = _post(api_client, {**BODY, **change})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert field in error["fields"]
    assert Checkout.objects.count() == 0
    assert len(psp_stub.calls) == 0


def test_a_missing_field_is_named(api_client, psp_stub):
    response = _post(api_client, {"currency": "EUR"})
    assert response.status_code == 400
    assert "amount" in response.json()["error"]["fields"]


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"a string"', b"null"])
def test_a_body_that_is_not_a_json_object_is_a_400(api_client, psp_stub, raw):
    response = api_client.post("/api/checkouts/", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["fields"] == {}


def test_an_oversized_body_is_a_413(api_client, psp_stub):
    response = _post(api_client, {**BODY, "description": "x" * 70_000})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer"])
def test_a_missing_or_wrong_api_key_is_a_401(client, db, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = _post(client, BODY, **extra)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_a_revoked_key_is_refused(api_client, psp_stub):
    ApiKey.objects.update(revoked_at="2026-01-01T00:00:00Z")
    assert _post(api_client, BODY).status_code == 401


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500, "json": {"error": {"code": "internal_error", "message": ""}}},
        {"body": requests.ConnectionError("refused")},
        {"status": 200, "json": {"unexpected": True}},
    ],
)
def test_when_the_psp_cannot_register_the_session_nothing_payable_is_left(api_client, psp_stub, failure):
    psp_stub.post(f"{PSP}/v1/sessions", **failure)
    response = _post(api_client, BODY)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "psp_unavailable"
    assert Checkout.objects.count() == 0


def test_the_same_idempotency_key_and_body_replay_the_first_answer(api_client, psp_stub):
    _session_ok(psp_stub)
    first = _post(api_client, BODY, HTTP_IDEMPOTENCY_KEY="order-1042-try")
    again = _post(api_client, {**BODY}, HTTP_IDEMPOTENCY_KEY="order-1042-try")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert Checkout.objects.count() == 1
    assert len(psp_stub.calls) == 1


def test_the_same_key_with_another_body_is_a_422(api_client, psp_stub):
    _session_ok(psp_stub)
    _post(api_client, BODY, HTTP_IDEMPOTENCY_KEY="k1")
    response = _post(api_client, {**BODY, "amount": "13.00"}, HTTP_IDEMPOTENCY_KEY="k1")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Checkout.objects.count() == 1


def test_the_same_key_while_the_first_request_runs_is_a_409(api_client, psp_stub):
    from checkout.models import IdempotencyRecord

    # given a first request with this key and body that has not finished
    IdempotencyRecord.objects.create(
        storefront=ApiKey.objects.get().storefront, key="k2", fingerprint=_fingerprint_of(BODY)
    )
    # when the same request comes again
    response = _post(api_client, BODY, HTTP_IDEMPOTENCY_KEY="k2")
    # then it is told to wait, and nothing was sent to the PSP
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_in_use"
    assert len(psp_stub.calls) == 0


def _fingerprint_of(body):
    import hashlib

    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(b"POST /api/checkouts/\n" + canonical).hexdigest()


def test_a_failed_psp_call_is_not_kept_under_the_key(api_client, psp_stub):
    psp_stub.post(f"{PSP}/v1/sessions", status=500, json={"error": {"code": "internal_error", "message": ""}})
    assert _post(api_client, BODY, HTTP_IDEMPOTENCY_KEY="k3").status_code == 503
    psp_stub.replace("POST", f"{PSP}/v1/sessions", json=session_json(token="tok_new"), status=201)
    assert _post(api_client, BODY, HTTP_IDEMPOTENCY_KEY="k3").status_code == 201


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\tkey", "é"])
def test_a_malformed_idempotency_key_is_a_400(api_client, psp_stub, key):
    response = _post(api_client, BODY, HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert Checkout.objects.count() == 0


def test_get_shows_the_checkout_and_its_latest_payment(api_client):
    checkout = make_checkout(status="paid")
    make_attempt(checkout, status=AttemptStatus.FAILED, failure_code="card_declined")
    attempt = make_attempt(checkout, status=AttemptStatus.SUCCEEDED, psp_payment_id="pay_1")
    body = api_client.get(f"/api/checkouts/{checkout.id}/").json()
    assert body["status"] == "paid"
    assert body["payment"]["id"] == str(attempt.id)
    assert body["payment"] == {
        "id": str(attempt.id), "status": "succeeded", "payment_method": "pm_card_visa", "failure_code": None,
        "psp_payment_id": "pay_1", "refunded_amount": "0.00",
        "created_at": body["payment"]["created_at"], "updated_at": body["payment"]["updated_at"],
    }


def test_get_of_an_unknown_checkout_is_a_json_404(api_client):
    for path in ["/api/checkouts/6f1c0000-0000-4000-8000-000000000000/", "/api/checkouts/not-a-uuid/", "/api/nope"]:
        response = api_client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_the_schema_and_its_docs_are_served(client, db):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/checkouts/{checkout_id}/buy-now/" in schema.content
    assert client.get("/api/docs/").status_code == 200
