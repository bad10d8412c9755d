"""Idempotency keys: replay, reuse, in flight, and answers the client never got."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
import requests

from .client import Psp

pytestmark = pytest.mark.sandbox


def test_the_same_key_and_body_replays_the_first_answer(psp: Psp) -> None:
    # given a payment made with a key
    session = psp.create_session()
    key = uuid.uuid4().hex
    first = psp.pay(session, key=key)
    # when the same request is sent again with that key
    again = psp.pay(session, key=key)
    # then the first answer comes back: same status, same body, marked as replayed
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    # and nothing was charged again
    assert psp.session(session["token"])["latest_payment"]["id"] == first.json()["id"]


def test_the_body_is_compared_after_parsing(psp: Psp) -> None:
    # given a session registered with a key
    key = uuid.uuid4().hex
    body = {"checkout_id": uuid.uuid4().hex, "amount": "12.50", "currency": "EUR"}
    first = psp.post("/v1/sessions", body, key=key)
    # when the same JSON comes with other key order and spacing
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=4)
    again = psp.http.post(
        psp.url + "/v1/sessions",
        data=reordered,
        headers={"Idempotency-Key": key},
        timeout=10,
    )
    # then it is the same request: replayed
    assert again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.content == first.content


def test_the_same_key_with_another_body_is_422_reused(psp: Psp) -> None:
    session = psp.create_session()
    key = uuid.uuid4().hex
    psp.pay(session, key=key)
    answer = psp.pay(session, "pm_card_mastercard", key=key)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "idempotency_key_reused"


def test_the_same_key_on_another_path_is_422_reused(psp: Psp) -> None:
    # given a key used to register a session
    key = uuid.uuid4().hex
    session = psp.post(
        "/v1/sessions",
        {"checkout_id": uuid.uuid4().hex, "amount": "12.50", "currency": "EUR"},
        key=key,
    ).json()
    # when it is used for a payment
    answer = psp.pay(session, key=key)
    # then it is another request under a used key
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "idempotency_key_reused"
    assert psp.session(session["token"])["latest_payment"] is None


def test_a_key_in_flight_is_409_in_use_even_while_the_answer_is_held(psp: Psp) -> None:
    # given a payment whose answer the sandbox holds back for a second
    psp.arm({"path": "/v1/payments", "fault": "slow:1.5"})
    session = psp.create_session()
    key = uuid.uuid4().hex
    slow: list[requests.Response] = []
    first = threading.Thread(target=lambda: slow.append(psp.pay(session, key=key)))
    first.start()
    time.sleep(0.5)  # the first request has claimed the key by now
    # when the same request comes again meanwhile
    during = Psp(psp.url, psp.webhook_url).pay(session, key=key)
    first.join()
    # then it is 409 in use; afterwards the key replays the real answer
    assert during.status_code == 409
    assert during.json()["error"]["code"] == "idempotency_key_in_use"
    assert slow[0].status_code == 201
    after = psp.pay(session, key=key)
    assert after.status_code == 201
    assert after.headers.get("Idempotent-Replayed") == "true"
    assert after.content == slow[0].content


def test_another_body_under_a_key_in_flight_is_422(psp: Psp) -> None:
    psp.arm({"path": "/v1/payments", "fault": "slow:1.5"})
    session = psp.create_session()
    key = uuid.uuid4().hex
    first = threading.Thread(target=psp.pay, args=(session,), kwargs={"key": key})
    first.start()
    time.sleep(0.5)  # the first request has claimed the key by now
    during = Psp(psp.url, psp.webhook_url).pay(session, "pm_card_mastercard", key=key)
    first.join()
    assert during.json()["error"]["code"] == "idempotency_key_reused"


def test_error_after_keeps_the_real_answer_under_the_key(psp: Psp) -> None:
    # given a payment that is made but answered with a 500
    psp.arm({"path": "/v1/payments", "fault": "error_after"})
    session = psp.create_session()
    key = uuid.uuid4().hex
    lost = psp.pay(session, key=key)
    assert lost.status_code == 500
    assert lost.json()["error"]["code"] == "internal_error"
    # when the client retries with the same key
    retry = psp.pay(session, key=key)
    # then it gets the real answer it never saw, and the payment exists once
    assert retry.status_code == 201
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert psp.session(session["token"])["latest_payment"]["id"] == retry.json()["id"]


def test_drop_after_keeps_the_real_answer_under_the_key(psp: Psp) -> None:
    # given a payment that is made but whose connection is closed with no answer
    psp.arm({"path": "/v1/payments", "fault": "drop_after"})
    session = psp.create_session()
    key = uuid.uuid4().hex
    with pytest.raises(requests.ConnectionError):
        psp.pay(session, key=key)
    # when the client retries with the same key
    retry = psp.pay(session, key=key)
    # then it gets the real answer
    assert retry.status_code == 201
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert psp.session(session["token"])["latest_payment"]["id"] == retry.json()["id"]


def test_error_before_is_not_stored_so_a_retry_is_processed_afresh(psp: Psp) -> None:
    # given a payment refused with a 500 before anything was done
    psp.arm({"path": "/v1/payments", "fault": "error_before"})
    session = psp.create_session()
    key = uuid.uuid4().hex
    assert psp.pay(session, key=key).status_code == 500
    assert psp.session(session["token"])["latest_payment"] is None
    # when the client retries with the same key
    retry = psp.pay(session, key=key)
    # then it is processed for real, not replayed
    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry.headers


def test_a_4xx_answer_is_stored_under_its_key_too(psp: Psp) -> None:
    # given a payment refused as amount_mismatch
    session = psp.create_session()
    key = uuid.uuid4().hex
    first = psp.pay(session, amount="1.00", key=key)
    assert first.status_code == 422
    # when it is retried with the same key
    again = psp.pay(session, amount="1.00", key=key)
    # then the stored answer is replayed
    assert again.status_code == 422
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.content == first.content


def test_refunds_are_idempotent(psp: Psp) -> None:
    payment = psp.paid()
    key = uuid.uuid4().hex
    body = {"amount": "5.00", "currency": "EUR"}
    first = psp.post(f"/v1/payments/{payment['id']}/refunds", body, key=key)
    again = psp.post(f"/v1/payments/{payment['id']}/refunds", body, key=key)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    # a second refund of the same amount with a new key is a new refund
    other = psp.post(f"/v1/payments/{payment['id']}/refunds", body)
    assert other.status_code == 201
    assert other.json()["id"] != first.json()["id"]


def test_without_a_key_every_request_is_new(psp: Psp) -> None:
    body = {"checkout_id": uuid.uuid4().hex, "amount": "1.00", "currency": "EUR"}
    assert psp.post("/v1/sessions", body, key=None).status_code == 201
    assert psp.post("/v1/sessions", body, key=None).status_code == 200
