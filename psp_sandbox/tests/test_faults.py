"""Fault injection: POST/GET/DELETE /sandbox/faults."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import requests

from .client import Psp

pytestmark = pytest.mark.sandbox


def _session_body() -> dict[str, str]:
    return {"checkout_id": uuid.uuid4().hex, "amount": "12.50", "currency": "EUR"}


def test_arming_answers_200_with_the_armed_faults(psp: Psp) -> None:
    # when two faults are armed
    psp.arm({"path": "/v1/payments", "fault": "error_after", "times": 2})
    answer = psp.arm({"path": "/v1/*", "fault": "slow:0.5"})
    # then the answer, and GET, list both in order, times defaulting to 1
    expected = [
        {"path": "/v1/payments", "fault": "error_after", "times": 2},
        {"path": "/v1/*", "fault": "slow:0.5", "times": 1},
    ]
    assert answer["faults"] == expected
    assert psp.get("/sandbox/faults").json()["faults"] == expected


def test_error_before_does_nothing_and_answers_500(psp: Psp) -> None:
    # given error_before armed on /v1/payments
    psp.arm({"path": "/v1/payments", "fault": "error_before"})
    session = psp.create_session()
    # when a payment is asked for
    answer = psp.pay(session)
    # then it is a 500 in the contract's shape, and no payment was made
    assert answer.status_code == 500
    assert answer.json() == {"error": {"code": "internal_error", "message": "internal error"}}
    assert psp.session(session["token"])["latest_payment"] is None


def test_error_after_makes_the_payment_then_answers_500(psp: Psp) -> None:
    # given error_after armed on /v1/payments
    psp.arm({"path": "/v1/payments", "fault": "error_after"})
    session = psp.create_session()
    # when a payment is asked for, the answer is a 500
    assert psp.pay(session).status_code == 500
    # then the client that lost the answer finds the payment through the session
    latest = psp.session(session["token"])["latest_payment"]
    assert latest is not None
    assert latest["status"] == "succeeded"


def test_drop_after_makes_the_payment_then_closes_the_connection(psp: Psp) -> None:
    # given drop_after armed on /v1/payments
    psp.arm({"path": "/v1/payments", "fault": "drop_after"})
    session = psp.create_session()
    # when a payment is asked for, the connection closes with no answer
    with pytest.raises(requests.ConnectionError):
        psp.pay(session)
    # then the session shows the payment that was made
    latest = psp.session(session["token"])["latest_payment"]
    assert latest is not None
    assert latest["status"] == "succeeded"


def test_slow_processes_then_holds_the_answer_back(psp: Psp) -> None:
    # given slow:0.6 armed on reading sessions
    psp.arm({"path": "/v1/sessions/{token}", "fault": "slow:0.6"})
    session = psp.create_session()
    # when a session is read
    started = time.monotonic()
    answer = psp.get(f"/v1/sessions/{session['token']}")
    # then the right answer comes, 0.6 s late
    assert time.monotonic() - started >= 0.6
    assert answer.status_code == 200
    assert answer.json()["token"] == session["token"]


def test_slow_holds_only_its_own_request(psp: Psp) -> None:
    # given a slow answer being held on one connection
    psp.arm({"path": "/v1/sessions", "fault": "slow:2"})
    held = threading.Thread(target=psp.post, args=("/v1/sessions", _session_body()))
    held.start()
    time.sleep(0.2)
    # when another client pays meanwhile
    started = time.monotonic()
    other = Psp(psp.url, psp.webhook_url)
    assert other.get("/sandbox/health").status_code == 200
    assert other.paid()["status"] == "succeeded"
    # then it was not held behind it: no lock is kept while an answer is held
    assert time.monotonic() - started < 1.0
    held.join()


@pytest.mark.parametrize(
    ("pattern", "method", "path", "matches"),
    [
        ("/v1/payments/{id}/refunds", "POST", "/v1/payments/pay_abc/refunds", True),
        ("/v1/payments/{id}/refunds", "POST", "/v1/payments", False),
        ("/v1/payments/{id}/refunds", "GET", "/v1/payments/pay_abc", False),
        ("/v1/payments/{id}", "GET", "/v1/payments/pay_abc", True),
        ("/v1/payments/{id}", "POST", "/v1/payments/pay_abc/refunds", False),
        ("/v1/*", "GET", "/v1/sessions/tok_abc", True),
        ("/v1/*", "POST", "/v1/payments/pay_abc/refunds", True),
        ("/v1/sessions", "GET", "/v1/sessions/tok_abc", False),
        ("/v1/sessions", "POST", "/v1/sessions", True),
        ("/v1/sessions*", "GET", "/v1/sessions/tok_abc", True),
        ("/sandbox/3ds/{id}", "GET", "/sandbox/3ds/pay_abc", True),
    ],
)
def test_path_patterns(psp: Psp, pattern: str, method: str, path: str, matches: bool) -> None:
    # given an error_before armed for a pattern
    psp.arm({"path": pattern, "fault": "error_before"})
    # when a request goes to a path (any method matches)
    answer = psp.http.request(method, psp.url + path, json={}, timeout=10)
    # then it is hit by the fault only if the pattern matches the path
    assert (answer.status_code == 500) is matches
    assert (psp.get("/sandbox/faults").json()["faults"] == []) is matches


def test_times_counts_down(psp: Psp) -> None:
    # given a fault armed for two requests
    psp.arm({"path": "/v1/sessions", "fault": "error_before", "times": 2})
    # when three requests come, then only the first two are hit
    statuses = [psp.post("/v1/sessions", _session_body()).status_code for _ in range(3)]
    assert statuses == [500, 500, 201]


def test_faults_are_used_first_armed_first_used(psp: Psp) -> None:
    # given error_before then error_after armed on the same path
    psp.arm({"path": "/v1/sessions", "fault": "error_before"})
    psp.arm({"path": "/v1/*", "fault": "error_after"})
    first_body, second_body = _session_body(), _session_body()
    # when two sessions are registered
    first = psp.post("/v1/sessions", first_body)
    second = psp.post("/v1/sessions", second_body)
    # then the first got error_before (not made) and the second error_after (made)
    assert (first.status_code, second.status_code) == (500, 500)
    assert psp.post("/v1/sessions", first_body).status_code == 201
    assert psp.post("/v1/sessions", second_body).status_code == 200


def test_delete_clears_faults_and_webhook_knobs(psp: Psp) -> None:
    # given faults and webhook knobs set
    psp.arm({"path": "/v1/*", "fault": "error_before", "times": 5})
    psp.arm({"webhooks": {"drop": 1.0, "reorder": True}})
    # when they are cleared
    cleared = psp.http.delete(psp.url + "/sandbox/faults", timeout=10)
    # then nothing is armed, the knobs are back to their defaults, and requests pass
    assert cleared.status_code == 200
    assert cleared.json() == {
        "faults": [],
        "webhooks": {"duplicate": 0.0, "drop": 0.0, "reorder": False},
    }
    assert psp.post("/v1/sessions", _session_body()).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"path": "/v1/payments", "fault": "explode"},
        {"path": "/v1/payments", "fault": "slow:"},
        {"path": "/v1/payments", "fault": "slow:-1"},
        {"path": "v1/payments", "fault": "error_before"},
        {"fault": "error_before"},
        {"path": "/v1/payments", "fault": "error_before", "times": 0},
        {"path": "/v1/payments", "fault": "error_before", "times": "2"},
        {"path": "/v1/payments", "fault": "error_before", "colour": "red"},
        {"webhooks": {"duplicate": 1.5}},
        {"webhooks": {"drop": "often"}},
        {"webhooks": {"reorder": "yes"}},
        {"webhooks": {"shuffle": True}},
        {},
    ],
)
def test_a_bad_fault_is_422(psp: Psp, body: dict[str, object]) -> None:
    answer = psp.http.post(psp.url + "/sandbox/faults", json=body, timeout=10)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_request"


def test_the_fault_endpoint_needs_the_key(psp: Psp) -> None:
    answer = requests.post(
        psp.url + "/sandbox/faults",
        json={"path": "/v1/*", "fault": "error_before"},
        timeout=10,
    )
    assert answer.status_code == 401
    assert psp.get("/sandbox/faults").json()["faults"] == []
