"""The record of every exchange with the PSP (issue 14): written in the transaction that applies
its answer when one follows, on its own when none does, and never lost on a path that returns
or raises (payments/gateway.py: `psp_calls_held`, `atomic_with_psp_calls`)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext

from checkout.tests.factories import make_checkout
from payments.attempt_lifecycle import attempt_sync
from payments.buy_now import attempt_buy_now
from payments.models import PaymentAttempt, PspCall, Refund
from payments.refunds import refund_create
from payments.states import AttemptStatus, CheckoutStatus, RefundStatus
from payments.tests.factories import PSP, make_attempt, payment_json, refund_json, session_json
from payments.transitions import Cause

SHOPPER = Cause(kind="shopper")


def _psp_pays(psp_stub: Any, **fields: Any) -> None:
    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        sent = json.loads(request.body)
        return 201, {}, json.dumps(payment_json(metadata=sent["metadata"], token=sent["token"], **fields))

    psp_stub.add_callback("POST", f"{PSP}/v1/payments", callback=answer, content_type="application/json")


def _buy(checkout: Any) -> PaymentAttempt:
    return attempt_buy_now(checkout_id=checkout.id, token=checkout.psp_token, payment_method="pm_card_visa",
                           cause=SHOPPER).attempt


def _statements_of_each_transaction(captured: CaptureQueriesContext) -> list[list[str]]:
    transactions: list[list[str]] = []
    current: list[str] | None = None
    for entry in captured.captured_queries:
        sql = entry["sql"]
        if sql == "BEGIN":
            current = []
        elif sql == "COMMIT" and current is not None:
            transactions.append(current)
            current = None
        elif current is not None:
            current.append(sql)
    return transactions


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_call_record_commits_in_the_transaction_that_applies_the_answer(psp_stub):
    # given an open checkout and a PSP that charges at once
    checkout = make_checkout()
    _psp_pays(psp_stub, status="succeeded")
    # when the shopper buys
    with CaptureQueriesContext(connection) as captured:
        attempt = _buy(checkout)
    # then the call's record is the first statement of the transaction that marks the attempt
    # succeeded, and no write commits on its own
    applying = [statements for statements in _statements_of_each_transaction(captured)
                if any('UPDATE "payments_paymentattempt"' in sql for sql in statements)]
    assert len(applying) == 1
    statements = [sql for sql in applying[0] if not sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    assert statements[0].startswith('INSERT INTO "payments_pspcall"')  # in a savepoint of its own
    in_transactions = {sql for statements in _statements_of_each_transaction(captured) for sql in statements}
    alone = [entry["sql"] for entry in captured.captured_queries
             if entry["sql"].startswith(("INSERT", "UPDATE")) and entry["sql"] not in in_transactions]
    assert alone == []
    assert attempt.status == AttemptStatus.SUCCEEDED
    assert list(PspCall.objects.values_list("attempt_id", "status_code")) == [(attempt.id, 201)]


@pytest.mark.django_db
@pytest.mark.parametrize("failure", [requests.ReadTimeout("no answer"), requests.ConnectionError("refused")])
def test_every_try_is_recorded_when_the_psp_never_answers(psp_stub, failure):
    # given a PSP that never answers
    checkout = make_checkout()
    psp_stub.post(f"{PSP}/v1/payments", body=failure)
    # when the shopper buys (no transaction follows: nothing is learnt)
    attempt = _buy(checkout)
    # then the attempt waits for its poll, and each of the three tries is on its timeline
    assert attempt.status == AttemptStatus.STARTED
    calls = list(PspCall.objects.filter(attempt_id=attempt.id).values_list("status_code", "error"))
    assert len(calls) == 3
    assert all(status is None and type(failure).__name__ in error for status, error in calls)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_call_record_survives_a_transaction_that_rolls_back(psp_stub):
    # given a PSP that charges, and applying its answer fails half-way (after the record was
    # written in the applying transaction)
    checkout = make_checkout()
    _psp_pays(psp_stub, status="succeeded")
    trouble = mock.patch("payments.attempt_lifecycle.move_attempt", side_effect=RuntimeError("database trouble"))
    # when the shopper buys
    with trouble, pytest.raises(RuntimeError):
        _buy(checkout)
    # then nothing of the answer was applied, but the exchange is recorded once, on its own
    attempt = PaymentAttempt.objects.get()
    assert attempt.status == AttemptStatus.STARTED
    assert list(PspCall.objects.values_list("attempt_id", "status_code")) == [(attempt.id, 201)]
    # and the poll that learns the outcome adds its own exchange, not a second copy of that one
    paid = payment_json(attempt, status="succeeded")
    psp_stub.get(f"{PSP}/v1/sessions/{checkout.psp_token}", json=session_json(checkout, latest_payment=paid))
    assert attempt_sync(attempt_id=attempt.id, cause=Cause(kind="poll")).status == AttemptStatus.SUCCEEDED
    assert list(PspCall.objects.order_by("id").values_list("method", "status_code")) == [("POST", 201), ("GET", 200)]


@pytest.mark.django_db
def test_a_refused_payment_is_recorded_with_its_failure(psp_stub):
    # given a PSP that refuses the payment method
    checkout = make_checkout()
    psp_stub.post(f"{PSP}/v1/payments", status=422,
                  json={"error": {"code": "invalid_payment_method", "message": "no"}})
    # when the shopper buys
    attempt = _buy(checkout)
    # then the attempt failed, and the refusal is on its timeline once
    assert attempt.status == AttemptStatus.FAILED
    assert list(PspCall.objects.values_list("attempt_id", "status_code")) == [(attempt.id, 422)]


@pytest.mark.django_db
def test_a_sync_that_resends_records_both_calls_once(psp_stub):
    # given a started attempt the PSP never heard of
    checkout = make_checkout(status=CheckoutStatus.PROCESSING)
    attempt = make_attempt(checkout, status=AttemptStatus.STARTED)
    psp_stub.get(f"{PSP}/v1/sessions/{checkout.psp_token}", json=session_json(checkout))
    _psp_pays(psp_stub, status="succeeded")
    # when a poll asks the PSP, then sends it again with its own key
    synced = attempt_sync(attempt_id=attempt.id, cause=Cause(kind="poll"))
    # then both exchanges are recorded, once each, in the order they were made
    assert synced.status == AttemptStatus.SUCCEEDED
    assert list(PspCall.objects.order_by("created_at", "id").values_list("method", "cause")) == [
        ("GET", "poll"), ("POST", "poll")]


@pytest.mark.django_db
def test_a_refund_and_its_call_record_commit_together_and_an_unanswered_one_is_still_recorded(psp_stub):
    # given a paid checkout
    checkout = make_checkout(status=CheckoutStatus.PAID)
    attempt = make_attempt(checkout, status=AttemptStatus.SUCCEEDED, psp_payment_id="pay_1", psp_version=1)
    psp_stub.post(f"{PSP}/v1/payments/pay_1/refunds", json=refund_json("pay_1", amount="5.00"), status=201)
    psp_stub.post(f"{PSP}/v1/payments/pay_1/refunds", body=requests.ReadTimeout("no answer"))
    # when two refunds are asked for, the second one's answer lost
    answered = refund_create(checkout_id=checkout.id, amount=Decimal("5.00"), reason="", cause=SHOPPER)
    lost = refund_create(checkout_id=checkout.id, amount=Decimal("1.00"), reason="", cause=SHOPPER)
    # then each exchange is recorded under its refund
    assert answered.status == RefundStatus.PENDING
    assert lost.status == RefundStatus.STARTED
    assert PspCall.objects.filter(refund_id=answered.id).count() == 1
    assert PspCall.objects.filter(refund_id=lost.id, status_code=None).count() == 3
    assert Refund.objects.filter(attempt=attempt).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_psp_answer_carrying_a_nul_character_is_applied_and_recorded_without_it(psp_stub):
    # given a pending attempt, and a PSP whose answer carries a NUL (PostgreSQL's jsonb refuses it)
    attempt = make_attempt(make_checkout(), status=AttemptStatus.PENDING, psp_payment_id="pay_1", psp_version=1)
    psp_stub.get(f"{PSP}/v1/payments/pay_1", json=payment_json(attempt, id="pay_1", version=2,
                                                             failure_message="x\u0000y"))
    # when a poll asks the PSP
    attempt_sync(attempt_id=attempt.id, cause=Cause(kind="poll"))
    # then the payment's change is applied, and the call is recorded with the NUL removed
    attempt.refresh_from_db()
    assert (attempt.status, attempt.psp_version) == (AttemptStatus.SUCCEEDED, 2)
    assert PspCall.objects.get(attempt_id=attempt.id).response_body["failure_message"] == "xy"


@pytest.fixture
def psp_calls_refused():
    """The database refuses every PspCall row (a trigger: a real refusal, whatever its cause)."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE FUNCTION refuse_psp_call() RETURNS trigger LANGUAGE plpgsql AS "
                       "$$ BEGIN RAISE EXCEPTION 'refused for the test'; END $$")
        cursor.execute("CREATE TRIGGER refuse_psp_call BEFORE INSERT ON payments_pspcall "
                       "FOR EACH ROW EXECUTE FUNCTION refuse_psp_call()")
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER refuse_psp_call ON payments_pspcall")
        cursor.execute("DROP FUNCTION refuse_psp_call()")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_call_record_the_database_refuses_never_costs_the_payment_its_change(psp_stub, psp_calls_refused,
                                                                              caplog):
    # given a pending attempt, and a database that refuses call records
    attempt = make_attempt(make_checkout(), status=AttemptStatus.PENDING, psp_payment_id="pay_1", psp_version=1)
    psp_stub.get(f"{PSP}/v1/payments/pay_1", json=payment_json(attempt, id="pay_1", version=2))
    # when a poll asks the PSP and applies its answer
    attempt_sync(attempt_id=attempt.id, cause=Cause(kind="poll"))
    # then the change is applied all the same; the lost record is logged
    attempt.refresh_from_db()
    assert (attempt.status, attempt.psp_version) == (AttemptStatus.SUCCEEDED, 2)
    assert attempt.checkout.__class__.objects.get(id=attempt.checkout_id).status == CheckoutStatus.PAID
    assert "could not record 1 PSP call(s)" in caplog.text
