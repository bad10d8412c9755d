"""Query and commit budgets of the hot paths (issue 14): what each costs the database today, pinned
exactly, so that one more query or one more commit fails CI, and an optimisation that saves one
lowers the budget here in the same change.

How it is counted, on PostgreSQL with real transactions (`transaction=True`: inside a test-case
transaction every `atomic` would be a savepoint and nothing would commit): `CaptureQueriesContext`
logs every statement, and Django logs BEGIN and COMMIT there too. A *query* is a statement sent to
the database (BEGIN/COMMIT not included). A *commit* is a COMMIT (the end of an outermost
`atomic`) or a write sent in autocommit mode, which PostgreSQL commits on its own: each is one
durable commit (a WAL flush) the request waits for.

The storefront has a notification endpoint, as in production. Every status change of a checkout
also writes its storefront event (payments/outbox.py), inside the change's transaction; that costs
2 queries per change, marked [outbox] below: the storefront's `event_position` UPDATE … RETURNING
(which also says whether the storefront has an endpoint) and the `payments_storefrontevent` INSERT.
The event's `sequence` rides on the checkout's own status UPDATE, and its document's `payment` is
the attempt the status writer holds (it was 5 queries: those were 3 statements of their own).

When a budget fails, the assertion message lists the statements of the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from checkout.models import Checkout
from checkout.tests.factories import make_checkout, make_storefront
from payments.states import AttemptStatus, CheckoutStatus
from payments.tests.factories import PSP, make_attempt, make_endpoint, payment_json, session_json
from webhooks.models import WebhookEvent
from webhooks.processing import event_process
from webhooks.tests.factories import deliver, event

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BODY = {
    "amount": "12.50", "currency": "EUR", "description": "Order 1042", "reference": "order-1042",
    "success_url": "http://127.0.0.1:8000/thanks", "failure_url": "http://localhost/cart",
}
WRITES = ("INSERT", "UPDATE", "DELETE")


@dataclass
class Cost:
    queries: list[str]
    commits: int

    def __str__(self) -> str:
        listing = "\n".join(f"  {number}. {sql[:160]}" for number, sql in enumerate(self.queries, 1))
        return f"{len(self.queries)} queries, {self.commits} commits:\n{listing}"


def cost_of(captured: CaptureQueriesContext) -> Cost:
    queries: list[str] = []
    commits = 0
    in_transaction = False
    for entry in captured.captured_queries:
        sql = entry["sql"]
        if sql == "BEGIN":
            in_transaction = True
        elif sql in ("COMMIT", "ROLLBACK"):
            commits += sql == "COMMIT"
            in_transaction = False
        else:
            queries.append(sql)
            if not in_transaction and sql.lstrip().upper().startswith(WRITES):
                commits += 1  # autocommit: PostgreSQL commits this statement on its own
    return Cost(queries, commits)


def assert_budget(captured: CaptureQueriesContext, *, queries: int, commits: int) -> None:
    cost = cost_of(captured)
    assert (len(cost.queries), cost.commits) == (queries, commits), (
        f"budget {queries} queries, {commits} commits; this run: {cost}\n"
        "Fewer? Lower the budget (and its comment). More? Find the query that came back."
    )


@pytest.fixture
def storefront_with_endpoint():  # type: ignore[no-untyped-def]
    storefront = make_storefront()  # the one `api_client`'s key and `make_checkout` use
    make_endpoint(storefront)
    return storefront


def _psp_pays(psp_stub: Any, **fields: Any) -> None:
    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        sent = json.loads(request.body)
        return 201, {}, json.dumps(payment_json(metadata=sent["metadata"], token=sent["token"], **fields))

    psp_stub.add_callback("POST", f"{PSP}/v1/payments", callback=answer, content_type="application/json")


def _create(api_client: Any, reference: str) -> Any:
    return api_client.post("/api/checkouts/", data=json.dumps({**BODY, "reference": reference}),
                           content_type="application/json")


def test_checkout_creation_costs_5_queries_and_1_commit(api_client, psp_stub, storefront_with_endpoint):
    # given a storefront whose key was used a moment ago (so the cache remembers it, and its
    # last_used_at was written this minute; the key's first use in a minute costs one more write
    # and commit: `UPDATE checkout_apikey SET last_used_at … WHERE revoked_at IS NULL`, and one more
    # SELECT of the key when the cache does not remember it: checkout/api_keys.py)
    # and a PSP that registers sessions
    psp_stub.post(f"{PSP}/v1/sessions", json=session_json(token="tok_warm"), status=201)
    assert _create(api_client, "order-warm").status_code == 201
    psp_stub.post(f"{PSP}/v1/sessions", json=session_json(token="tok_new"), status=201)
    # when it starts a checkout
    with CaptureQueriesContext(connection) as captured:
        response = _create(api_client, "order-1042")
    # then the checkout is made, at today's cost. Measured today: 5 queries, 1 commit (the key
    # comes from the cache; the checkout id was drawn for this request, so no earlier try can
    # have stored it, nothing is looked up before the PSP call, and the new checkout has no
    # payment to look up for the answer):
    #   -- the PSP call (POST /v1/sessions), no transaction open; its record is held
    #   BEGIN
    #   1-3. SAVEPOINT; INSERT payments_pspcall (the call's record, committed with the checkout);
    #        RELEASE SAVEPOINT (a record the database refused would not cost the checkout)
    #   4. INSERT checkout_checkout
    #   5. INSERT payments_statuschange ('' → open; no storefront event for `open`)
    #   COMMIT
    assert response.status_code == 201
    assert response.json()["payment"] is None
    assert Checkout.objects.filter(id=response.json()["id"]).exists()
    assert_budget(captured, queries=5, commits=1)


def test_buy_now_costs_19_queries_and_2_commits(client, psp_stub, storefront_with_endpoint):
    # given an open checkout and a PSP that charges at once
    checkout = make_checkout()
    _psp_pays(psp_stub, status="succeeded")
    # when the shopper clicks Buy Now
    with CaptureQueriesContext(connection) as captured:
        response = client.post(f"/api/checkouts/{checkout.id}/buy-now/", content_type="application/json",
                               data=json.dumps({"token": checkout.psp_token, "payment_method": "pm_card_visa"}))
    # then the checkout is paid. Measured: 19 queries, 2 commits (27 and 3 before issue 14), of
    # which 4 are the two storefront events [outbox] (checkout.processing, checkout.paid):
    #   BEGIN
    #   1. SELECT checkout_checkout … FOR UPDATE (the checkout, locked)
    #   2. SELECT payments_paymentattempt, its live attempt if any (live statuses, latest)
    #   3. INSERT payments_paymentattempt (made under the lock: the checkout's latest, no read)
    #   4. INSERT payments_statuschange (attempt '' → started)
    #   5. UPDATE checkout_checkout SET status = processing, event_sequence
    #   6. INSERT payments_statuschange (checkout open → processing)
    #   7-8. [outbox] UPDATE storefront event_position RETURNING (and the endpoint); INSERT storefrontevent
    #   COMMIT (commit 1)
    #   -- the PSP call (POST /v1/payments), no transaction open; its record is held (gateway.py)
    #   BEGIN
    #   9-11. SAVEPOINT; INSERT payments_pspcall (the call's record, committed with the answer it
    #         brought); RELEASE SAVEPOINT (a record the database refused would not undo the change)
    #   12. SELECT checkout_checkout … FOR UPDATE, by the attempt's checkout_id in a subquery
    #   13. SELECT payments_paymentattempt … FOR UPDATE, with whether it is the checkout's latest
    #   14. INSERT payments_statuschange (attempt started → succeeded)
    #   15. UPDATE payments_paymentattempt (every column)
    #   16. UPDATE checkout_checkout SET status = paid, event_sequence
    #   17. INSERT payments_statuschange (checkout processing → paid)
    #   18-19. [outbox] the same two for checkout.paid
    #   COMMIT (commit 2)
    #   (the answer's redirect reads the checkout that the lock returned: no query)
    assert response.status_code == 201
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.PAID
    assert_budget(captured, queries=19, commits=2)


def test_webhook_intake_costs_1_query_and_1_commit(client, storefront_with_endpoint):
    # given an attempt waiting for the PSP
    attempt = make_attempt(make_checkout(), status=AttemptStatus.PENDING, psp_payment_id="pay_1", psp_version=1)
    # when the PSP delivers one signed event
    with CaptureQueriesContext(connection) as captured:
        response = deliver(client, event("payment.succeeded", payment_json(attempt, id="pay_1", version=2)))
    # then it is recorded, at today's cost. Measured today: 1 query, 1 commit (the signature is
    # checked without the database; processing is enqueued once the row is committed):
    #   BEGIN
    #   1. INSERT webhooks_webhookevent
    #   COMMIT (commit 1)
    assert response.status_code == 200
    assert WebhookEvent.objects.count() == 1
    assert_budget(captured, queries=1, commits=1)


def test_event_processing_costs_10_queries_and_1_commit(client, storefront_with_endpoint):
    # given a recorded payment.succeeded event for a pending attempt
    checkout = make_checkout()
    attempt = make_attempt(checkout, status=AttemptStatus.PENDING, psp_payment_id="pay_1", psp_version=1)
    deliver(client, event("payment.succeeded", payment_json(attempt, id="pay_1", version=2)))
    recorded = WebhookEvent.objects.get()
    # when the worker processes it
    with CaptureQueriesContext(connection) as captured:
        outcome = event_process(event_pk=recorded.pk)
    # then the checkout is paid. Measured: 10 queries, 1 commit (16 and 2 before issue 14), of
    # which 2 are the storefront event [outbox] (checkout.paid); one locked read-modify-write:
    #   BEGIN
    #   1. SELECT webhooks_webhookevent … FOR UPDATE (the event, locked: a second worker waits)
    #   2. SELECT checkout_checkout … FOR UPDATE, by the metadata's attempt's checkout_id in a subquery
    #   3. SELECT payments_paymentattempt … FOR UPDATE, with whether it is the checkout's latest
    #   4. INSERT payments_statuschange (attempt pending → succeeded)
    #   5. UPDATE payments_paymentattempt (every column)
    #   6. UPDATE checkout_checkout SET status = paid, event_sequence
    #   7. INSERT payments_statuschange (checkout processing → paid)
    #   8-9. [outbox] UPDATE storefront event_position RETURNING (and the endpoint); INSERT storefrontevent
    #   10. UPDATE webhooks_webhookevent SET outcome = processed
    #   COMMIT (commit 1: the change, its storefront event and "processed" together)
    assert outcome == "processed"
    checkout.refresh_from_db()
    assert checkout.status == CheckoutStatus.PAID
    assert_budget(captured, queries=10, commits=1)


def test_the_result_page_of_a_paid_checkout_costs_1_query_and_no_commit(client, storefront_with_endpoint):
    # given a paid checkout
    checkout = make_checkout()
    make_attempt(checkout, status=AttemptStatus.SUCCEEDED, psp_payment_id="pay_1", psp_version=2)
    assert Checkout.objects.get(id=checkout.id).status == CheckoutStatus.PAID
    # when the shopper lands on its result page
    with CaptureQueriesContext(connection) as captured:
        page = client.get(f"/checkout/{checkout.id}/result/")
    # then it shows. Measured: 1 query, no commit (2 before issue 14):
    #   1. SELECT payments_paymentattempt JOIN checkout_checkout, the checkout's latest attempt with
    #      its checkout (a second query, for the checkout alone, only before its first attempt)
    assert page.status_code == 200
    assert_budget(captured, queries=1, commits=0)
