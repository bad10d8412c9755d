"""The session token is the shopper's proof of payment: after a whole flow it appears in no PSP
call row, no stored webhook, no error text and no log line, only masked (`…c0V`)."""

import json
import logging

import pytest
import requests
from django.forms.models import model_to_dict

from payments.models import PaymentAttempt, PspCall
from payments.polling import attempt_poll
from payments.psp.generic import HttpPspClient
from payments.psp.types import PspRejected, PspUnavailable
from payments.tests.factories import PSP, payment_json, session_json
from webhooks.models import WebhookEvent
from webhooks.processing import event_process
from webhooks.tests.factories import deliver, event

pytestmark = pytest.mark.django_db

TOKEN = "tok_Zq8s3kLm0PxY7wQe2RtUc0V"


def _lost_url(path):
    # What requests says when the PSP cannot be reached: the URL, token and all.
    return requests.ConnectionError(
        f"HTTPConnectionPool(host='psp.test', port=80): Max retries exceeded with url: {path} "
        "(Caused by NewConnectionError('Failed to establish a new connection: [Errno 111] Connection refused'))")


def _everything_stored():
    rows = [model_to_dict(row) for model in (PspCall, WebhookEvent, PaymentAttempt) for row in model.objects.all()]
    return json.dumps(rows, default=str, ensure_ascii=False)


def test_a_whole_flow_leaves_the_token_nowhere_unmasked(client, api_client, psp_stub, caplog,
                                                         django_capture_on_commit_callbacks):
    caplog.set_level(logging.DEBUG)
    # given a checkout registered at the PSP under TOKEN
    psp_stub.post(f"{PSP}/v1/sessions", json=session_json(token=TOKEN), status=201)
    checkout_id = api_client.post("/api/checkouts/", data=json.dumps({"amount": "12.50", "currency": "EUR"}),
                                  content_type="application/json").json()["id"]
    # and a Buy Now whose answer is lost
    psp_stub.post(f"{PSP}/v1/payments", body=_lost_url("/v1/payments"))
    bought = client.post(f"/api/checkouts/{checkout_id}/buy-now/", content_type="application/json",
                         data=json.dumps({"token": TOKEN, "payment_method": "pm_bank_transfer"}))
    attempt = PaymentAttempt.objects.get(id=bought.json()["attempt"]["id"])
    # when the poller asks for the session by token: first the PSP is unreachable, then it answers
    sessions = f"{PSP}/v1/sessions/{TOKEN}"
    for _ in range(3):
        psp_stub.get(sessions, body=_lost_url(f"/v1/sessions/{TOKEN}"))
    attempt_poll(attempt_id=attempt.id)
    pending = payment_json(attempt, id="pay_1", token=TOKEN, status="pending", version=1)
    psp_stub.get(sessions, json=session_json(token=TOKEN, latest_payment=pending))
    attempt_poll(attempt_id=attempt.id)
    # and the PSP's webhook, carrying the token in its payment object, is received and processed
    with django_capture_on_commit_callbacks(execute=False):
        deliver(client, event("payment.succeeded", payment_json(attempt, id="pay_1", token=TOKEN, version=2)))
    event_process(event_pk=WebhookEvent.objects.get().pk)
    # then the flow happened
    attempt.refresh_from_db()
    assert attempt.status == "succeeded"
    assert PspCall.objects.filter(path__startswith="/v1/sessions/").count() == 4
    # and the token is nowhere in what we stored or logged, only its masked form
    stored = _everything_stored()
    assert TOKEN not in stored and f"…{TOKEN[-4:]}" in stored
    assert TOKEN not in caplog.text and f"…{TOKEN[-4:]}" in caplog.text


@pytest.mark.parametrize(
    ("answer", "raised"),
    [
        ({"status": 404, "json": {"error": {"code": "not_found", "message": f"session {TOKEN} not found"}}},
         PspRejected),
        ({"status": 422, "json": {"error": {"code": "session_expired", "message": f"{TOKEN} has expired"}}},
         PspRejected),
        ({"status": 401, "json": {"error": {"code": "unauthorized", "message": "wrong key"}}}, PspUnavailable),
        ({"body": _lost_url(f"/v1/sessions/{TOKEN}")}, PspUnavailable),
        ({"status": 200, "body": "not json"}, Exception),
    ],
)
def test_a_psp_error_never_carries_the_token_in_its_text(caplog, answer, raised):
    # given a PSP that fails, quoting the token
    import responses

    caplog.set_level(logging.DEBUG)
    calls = []
    psp = HttpPspClient(base_url=PSP, api_key="sk_test", timeout=2, max_attempts=2, backoff=0, observer=calls.append)
    with responses.RequestsMock() as stub:
        stub.get(f"{PSP}/v1/sessions/{TOKEN}", **answer)
        # when we ask for the session
        with pytest.raises(raised) as failure:
            psp.get_session(TOKEN, context={})
    # then neither the error, nor the call records, nor the logs hold the token
    assert TOKEN not in str(failure.value)
    assert TOKEN not in repr([(call.path, call.error, call.response_body) for call in calls])
    assert TOKEN not in caplog.text
