"""The token rule: at most one pending, requires_action or succeeded payment per session."""

from __future__ import annotations

import threading

import pytest
import requests

from .client import Psp
from .sandbox_process import API_KEY

pytestmark = pytest.mark.sandbox


def test_twenty_concurrent_payments_for_one_token_make_one_payment(psp: Psp) -> None:
    # given an open session and 20 clients with their own connections and keys
    session = psp.create_session()
    body = psp.payment_body(session)
    start = threading.Barrier(20)
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def buy(n: int) -> None:
        http = requests.Session()
        headers = {
            "Authorization": f"Bearer {API_KEY}",
            "Idempotency-Key": f"concurrent-{session['token']}-{n}",
        }
        http.get(psp.url + "/sandbox/health", timeout=10)  # connect before the race
        start.wait()
        answer = http.post(psp.url + "/v1/payments", json=body, headers=headers, timeout=30)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=buy, args=(n,)) for n in range(20)]
    # when they all pay at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then exactly one payment is made: one 201, nineteen 200 with the same payment
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * 19 + [201]
    ids = {answer.json()["id"] for answer in answers}
    assert len(ids) == 1
    only = ids.pop()
    assert psp.session(session["token"])["latest_payment"]["id"] == only
    listed = psp.get(f"/sandbox/sessions/{session['token']}/payments").json()["data"]
    assert [payment["id"] for payment in listed] == [only]


def test_the_sandbox_lists_every_payment_of_a_session_oldest_first(psp: Psp) -> None:
    # given a declined payment, then a succeeded one, for one token
    session = psp.create_session()
    declined = psp.pay(session, "pm_card_declined").json()
    paid = psp.pay(session, "pm_card_visa").json()
    # then the sandbox-only listing shows both, in order; the key is required; unknown is 404
    listed = psp.get(f"/sandbox/sessions/{session['token']}/payments").json()["data"]
    assert [(p["id"], p["status"]) for p in listed] == [(declined["id"], "failed"), (paid["id"], "succeeded")]
    assert requests.get(f"{psp.url}/sandbox/sessions/{session['token']}/payments", timeout=10).status_code == 401
    assert psp.get("/sandbox/sessions/tok_unknown/payments").status_code == 404


@pytest.mark.parametrize("first_method", ["pm_card_visa", "pm_card_3ds", "pm_bank_transfer"])
def test_a_live_payment_is_returned_instead_of_a_new_one(psp: Psp, first_method: str) -> None:
    # given a session with a succeeded, requires_action or pending payment
    session = psp.create_session()
    first = psp.pay(session, first_method).json()
    # when another payment is asked for it, even with another method
    again = psp.pay(session, "pm_card_mastercard")
    # then nothing is charged: 200 with the existing payment
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert again.json()["payment_method"] == first_method


def test_a_new_payment_is_allowed_after_a_failed_one(psp: Psp) -> None:
    # given a session whose payment failed
    session = psp.create_session()
    failed = psp.pay(session, "pm_card_insufficient_funds").json()
    assert failed["status"] == "failed"
    # when the shopper tries again
    again = psp.pay(session)
    # then a new payment is made
    assert again.status_code == 201
    assert again.json()["id"] != failed["id"]
    assert again.json()["status"] == "succeeded"


def test_order_of_checks(psp: Psp) -> None:
    # field validation comes before the token lookup
    answer = psp.pay({"token": "tok_unknown", "amount": "12.50", "currency": "EUR"}, "pm_bogus")
    assert answer.json()["error"]["code"] == "invalid_payment_method"
    # an unknown token is 404, before the amount is compared
    answer = psp.pay({"token": "tok_unknown", "amount": "12.50", "currency": "EUR"})
    assert answer.status_code == 404
    # the amount is compared before the token rule
    session = psp.create_session()
    psp.pay(session)
    for overrides in ({"amount": "12.49"}, {"currency": "USD"}):
        answer = psp.pay(session, **overrides)
        assert answer.status_code == 422
        assert answer.json()["error"]["code"] == "amount_mismatch"
