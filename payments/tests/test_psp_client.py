"""The HTTP PSP client against `responses`: keys, retries, errors and typed answers."""

from decimal import Decimal

import pytest
import requests
import responses
from responses import matchers

from payments.psp.generic import HttpPspClient
from payments.psp.types import CallRecord, PspNotFound, PspProtocolError, PspRejected, PspUnavailable
from payments.tests.factories import PSP, payment_json, refund_json, session_json


@pytest.fixture
def calls() -> list[CallRecord]:
    return []


@pytest.fixture
def client(calls):
    return HttpPspClient(base_url=PSP, api_key="sk_test", timeout=2, max_attempts=3, backoff=0, observer=calls.append)


def _pay(client: HttpPspClient):
    return client.create_payment(
        token="tok_abcdefghijkl", amount=Decimal("12.50"), currency="EUR", payment_method="pm_card_visa",
        redirect_url="https://shop.test/r", webhook_url="https://shop.test/w", metadata={"attempt_id": "a1"},
        idempotency_key="bps-payment-a1", context={"attempt_id": "a1"},
    )


@responses.activate
def test_a_post_sends_the_bearer_key_the_idempotency_key_and_the_money_as_strings(client):
    # given the PSP answers a payment
    responses.post(
        f"{PSP}/v1/payments",
        json=payment_json(status="succeeded"),
        status=201,
        match=[
            matchers.header_matcher({"Authorization": "Bearer sk_test", "Idempotency-Key": "bps-payment-a1"}),
            matchers.json_params_matcher(
                {"token": "tok_abcdefghijkl", "amount": "12.50", "currency": "EUR", "payment_method": "pm_card_visa",
                 "redirect_url": "https://shop.test/r", "webhook_url": "https://shop.test/w",
                 "metadata": {"attempt_id": "a1"}}
            ),
        ],
    )
    # when we pay
    payment = _pay(client)
    # then the answer is typed
    assert payment.status == "succeeded"
    assert payment.amount == Decimal("12.50")
    assert payment.version == 1


@responses.activate
@pytest.mark.parametrize(
    "first_failure",
    [
        {"status": 500, "json": {"error": {"code": "internal_error", "message": "boom"}}},
        {"status": 409, "json": {"error": {"code": "idempotency_key_in_use", "message": "busy"}}},
        {"body": requests.ConnectionError("reset")},
        {"body": requests.ReadTimeout("slow")},
    ],
)
def test_a_retry_after_a_lost_answer_reuses_the_same_key(client, calls, first_failure):
    # given the first try fails and the second succeeds
    responses.post(f"{PSP}/v1/payments", **first_failure)
    responses.post(f"{PSP}/v1/payments", json=payment_json(), status=200, headers={"Idempotent-Replayed": "true"})
    # when we pay once
    payment = _pay(client)
    # then two requests went out, both with the key of this one operation
    assert payment.status == "succeeded"
    keys = [call.request.headers["Idempotency-Key"] for call in responses.calls]
    assert keys == ["bps-payment-a1", "bps-payment-a1"]
    assert len(calls) == 2


@responses.activate
def test_retries_are_bounded_and_end_in_psp_unavailable(client):
    responses.post(f"{PSP}/v1/payments", status=503, json={"error": {"code": "internal_error", "message": ""}})
    with pytest.raises(PspUnavailable):
        _pay(client)
    assert len(responses.calls) == 3


@responses.activate
def test_a_4xx_is_a_rejection_and_is_not_retried(client):
    responses.post(
        f"{PSP}/v1/payments", status=422, json={"error": {"code": "invalid_payment_method", "message": "no"}}
    )
    with pytest.raises(PspRejected) as caught:
        _pay(client)
    assert caught.value.code == "invalid_payment_method"
    assert len(responses.calls) == 1


@responses.activate
def test_a_conflict_that_is_not_about_the_key_is_a_rejection(client):
    responses.post(f"{PSP}/v1/sessions", status=409, json={"error": {"code": "checkout_id_conflict", "message": ""}})
    with pytest.raises(PspRejected):
        client.create_session(checkout_id="c1", amount=Decimal("1.00"), currency="EUR", description="",
                              idempotency_key="k", context={})
    assert len(responses.calls) == 1


@responses.activate
def test_unknown_ids_are_not_found(client):
    responses.get(f"{PSP}/v1/payments/pay_x", status=404, json={"error": {"code": "not_found", "message": ""}})
    with pytest.raises(PspNotFound):
        client.get_payment("pay_x", context={})


@responses.activate
def test_a_wrong_api_key_is_an_operator_problem_not_a_refusal_of_the_payment(client):
    responses.post(f"{PSP}/v1/payments", status=401, json={"error": {"code": "unauthorized", "message": ""}})
    with pytest.raises(PspUnavailable):
        _pay(client)


@responses.activate
def test_a_2xx_that_breaks_the_contract_is_a_protocol_error(client):
    responses.get(f"{PSP}/v1/payments/pay_x", json={"id": "pay_x", "amount": 12.5})
    with pytest.raises(PspProtocolError):
        client.get_payment("pay_x", context={})


@responses.activate
def test_sessions_and_refunds_are_typed(client):
    responses.get(f"{PSP}/v1/sessions/tok_1", json=session_json(latest_payment=payment_json(status="pending")))
    responses.get(f"{PSP}/v1/refunds/re_1", json=refund_json("pay_1", id="re_1", status="succeeded"))
    session = client.get_session("tok_1", context={})
    assert session.latest_payment is not None and session.latest_payment.status == "pending"
    refund = client.get_refund("re_1", context={})
    assert (refund.status, refund.amount) == ("succeeded", Decimal("5.00"))


@responses.activate
def test_the_call_record_hides_the_session_token(client, calls):
    responses.post(f"{PSP}/v1/payments", json=payment_json(token="tok_secret_value_1234"), status=201)
    _pay(client)
    record = calls[0]
    assert record.status_code == 201
    assert record.context == {"attempt_id": "a1"}
    assert "tok_abcdefghijkl" not in str(record.request_body)
    assert "tok_secret_value_1234" not in str(record.response_body)
    assert record.response_body["token"] == "…1234"
