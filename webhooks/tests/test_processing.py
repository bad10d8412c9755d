"""Processing recorded events: the PSP's object is the truth, applied once, in version order."""

from datetime import timedelta
from unittest import mock

import pytest
import time_machine

from checkout.tests.factories import make_checkout
from midoffice.tests.factories import OPERATOR, make_staff
from midoffice.timeline import checkout_timeline
from payments.models import PspCall, Refund, StorefrontEvent
from payments.psp.types import PspUnavailable
from payments.states import AttemptStatus, CheckoutStatus, RefundStatus
from payments.tests.factories import PSP, make_attempt, payment_json, refund_json
from webhooks.models import WebhookEvent
from webhooks.processing import _record_failure, event_process, events_requeue_stale
from webhooks.tests.factories import deliver, event

pytestmark = pytest.mark.django_db



def _receive(client, type_, data):
    deliver(client, event(type_, data))
    return WebhookEvent.objects.order_by("-id").first()


def test_a_payment_event_moves_the_attempt_and_the_checkout(client):
    checkout = make_checkout()
    attempt = make_attempt(checkout, status=AttemptStatus.PENDING, psp_payment_id="pay_1", psp_version=1)
    stored = _receive(client, "payment.succeeded", payment_json(attempt, id="pay_1", version=2))
    assert event_process(event_pk=stored.pk) == "processed"
    attempt.refresh_from_db()
    checkout.refresh_from_db()
    assert (attempt.status, checkout.status) == (AttemptStatus.SUCCEEDED, CheckoutStatus.PAID)
    stored.refresh_from_db()
    assert stored.checkout_id == checkout.id and stored.processed_at is not None
    change = checkout.status_changes.get(attempt=attempt, to_status="succeeded")
    assert (change.cause, change.cause_reference) == ("webhook", stored.event_id)


def test_processing_the_same_event_again_changes_nothing(client):
    attempt = make_attempt(make_checkout(), status=AttemptStatus.PENDING, psp_payment_id="pay_1", psp_version=1)
    stored = _receive(client, "payment.succeeded", payment_json(attempt, id="pay_1", version=2))
    event_process(event_pk=stored.pk)
    WebhookEvent.objects.filter(pk=stored.pk).update(outcome="received")
    assert event_process(event_pk=stored.pk) == "ignored"
    assert attempt.checkout.status_changes.filter(attempt=attempt, to_status="succeeded").count() == 1


def test_an_older_event_after_a_newer_one_is_ignored(client):
    attempt = make_attempt(make_checkout(), status=AttemptStatus.PENDING, psp_payment_id="pay_1", psp_version=1)
    newer = _receive(client, "payment.succeeded", payment_json(attempt, id="pay_1", version=2))
    older = _receive(client, "payment.pending", payment_json(attempt, id="pay_1", status="pending", version=1))
    event_process(event_pk=newer.pk)
    assert event_process(event_pk=older.pk) == "ignored"
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCEEDED


def test_the_webhook_can_arrive_before_the_buy_now_answer(client):
    # the attempt is still `started`: it is found by the attempt id the PSP echoes in metadata
    attempt = make_attempt(make_checkout())
    stored = _receive(client, "payment.pending", payment_json(attempt, id="pay_9", status="pending"))
    assert event_process(event_pk=stored.pk) == "processed"
    attempt.refresh_from_db()
    assert (attempt.status, attempt.psp_payment_id) == (AttemptStatus.PENDING, "pay_9")


def test_an_unknown_payment_is_re_read_from_the_psp(client, psp_stub):
    attempt = make_attempt(make_checkout())
    # the event names no attempt of ours; the PSP's own copy does
    psp_stub.get(f"{PSP}/v1/payments/pay_2", json=payment_json(attempt, id="pay_2", status="succeeded"))
    stored = _receive(client, "payment.succeeded", payment_json(None, id="pay_2", metadata={}))
    assert event_process(event_pk=stored.pk) == "processed"
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCEEDED


def test_a_payment_that_is_not_ours_is_ignored(client, psp_stub):
    psp_stub.get(f"{PSP}/v1/payments/pay_3", status=404, json={"error": {"code": "not_found", "message": ""}})
    stored = _receive(client, "payment.succeeded", payment_json(None, id="pay_3", metadata={}))
    assert event_process(event_pk=stored.pk) == "ignored"


def test_a_jump_in_versions_is_checked_against_the_psp(client, psp_stub):
    attempt = make_attempt(make_checkout(), status=AttemptStatus.SUCCEEDED, psp_payment_id="pay_1", psp_version=1)
    # we missed version 2; the event carries version 3, the PSP now has version 4
    psp_stub.get(f"{PSP}/v1/payments/pay_1", json=payment_json(attempt, id="pay_1", version=4,
                                                             refunded_amount="12.50"))
    stored = _receive(client, "payment.refunded", payment_json(attempt, id="pay_1", version=3, refunded_amount="5.00"))
    event_process(event_pk=stored.pk)
    attempt.refresh_from_db()
    assert (attempt.psp_version, str(attempt.refunded_amount)) == (4, "12.500")
    attempt.checkout.refresh_from_db()
    assert attempt.checkout.status == CheckoutStatus.REFUNDED


def test_an_event_with_another_amount_sends_the_attempt_to_review(client):
    checkout = make_checkout()
    attempt = make_attempt(checkout, status=AttemptStatus.PENDING, psp_payment_id="pay_1", psp_version=1)
    stored = _receive(client, "payment.succeeded", payment_json(attempt, id="pay_1", version=2, amount="1.00"))
    event_process(event_pk=stored.pk)
    attempt.refresh_from_db()
    checkout.refresh_from_db()
    assert attempt.status == AttemptStatus.NEEDS_REVIEW
    assert checkout.status == CheckoutStatus.PROCESSING


def test_refund_events_update_the_refund_and_the_checkout(client):
    checkout = make_checkout(status=CheckoutStatus.PAID)
    attempt = make_attempt(checkout, status=AttemptStatus.SUCCEEDED, psp_payment_id="pay_1", psp_version=1)
    refund = Refund(checkout=checkout, attempt=attempt, amount="12.50", currency="EUR", status=RefundStatus.PENDING,
                    psp_refund_id="re_1", idempotency_key="bps-refund-x")
    refund.save()
    stored = _receive(client, "refund.succeeded", refund_json("pay_1", id="re_1", amount="12.50", status="succeeded"))
    assert event_process(event_pk=stored.pk) == "processed"
    refund.refresh_from_db()
    checkout.refresh_from_db()
    assert (refund.status, checkout.status) == (RefundStatus.SUCCEEDED, CheckoutStatus.REFUNDED)


def test_a_failure_to_reach_the_psp_marks_the_event_failed_for_a_retry(client, psp_stub):
    psp_stub.get(f"{PSP}/v1/payments/pay_4", status=503, json={"error": {"code": "internal_error", "message": ""}})
    stored = _receive(client, "payment.succeeded", payment_json(None, id="pay_4", metadata={}))
    with pytest.raises(PspUnavailable):
        event_process(event_pk=stored.pk)
    stored.refresh_from_db()
    assert (stored.outcome, stored.processing_attempts) == ("failed", 1)
    assert "PspUnavailable" in stored.error


def test_events_left_received_are_found_again(client):
    stored = _receive(client, "payment.succeeded", payment_json(None, id="pay_5"))
    assert events_requeue_stale(older_than_seconds=3600) == []
    assert events_requeue_stale(older_than_seconds=-1) == [stored.pk]


def test_a_failed_event_whose_retry_was_lost_is_rung_again_and_applied(client, psp_stub):
    # given an event about a payment we must read from the PSP, whose processing failed (PSP down);
    # its retry is a due time in the database, not a message that a broker restart could lose
    attempt = make_attempt(make_checkout(), status=AttemptStatus.PENDING)
    psp_stub.get(f"{PSP}/v1/payments/pay_6", status=503, json={"error": {"code": "internal_error", "message": ""}})
    stored = _receive(client, "payment.succeeded", payment_json(None, id="pay_6", metadata={}))
    with pytest.raises(PspUnavailable):
        event_process(event_pk=stored.pk)
    stored.refresh_from_db()
    # then the sweeper leaves it until its retry is due, then rings it once per sweep age
    assert events_requeue_stale(older_than_seconds=30) == []
    with time_machine.travel(stored.retry_at + timedelta(seconds=1)):
        assert events_requeue_stale(older_than_seconds=30) == [stored.pk]
        assert events_requeue_stale(older_than_seconds=30) == []  # rung: not again at the next sweep
    with time_machine.travel(stored.retry_at + timedelta(seconds=32)):
        assert events_requeue_stale(older_than_seconds=30) == [stored.pk]
    # and when the rung task runs with the PSP back, the event is applied
    psp_stub.replace("GET", f"{PSP}/v1/payments/pay_6", json=payment_json(attempt, id="pay_6", version=2))
    assert event_process(event_pk=stored.pk) == "processed"
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUCCEEDED


def test_a_received_event_waiting_in_a_backlog_is_rung_again_at_most_once_per_sweep_age(client):
    stored = _receive(client, "payment.succeeded", payment_json(None, id="pay_7"))
    later = stored.received_at + timedelta(seconds=31)
    with time_machine.travel(later):
        assert events_requeue_stale(older_than_seconds=30) == [stored.pk]
    with time_machine.travel(later + timedelta(seconds=5)):
        assert events_requeue_stale(older_than_seconds=30) == []
    with time_machine.travel(later + timedelta(seconds=31)):
        assert events_requeue_stale(older_than_seconds=30) == [stored.pk]


def test_a_failed_event_is_given_up_after_its_last_try(client, psp_stub):
    from webhooks.processing import MAX_PROCESSING_ATTEMPTS

    psp_stub.get(f"{PSP}/v1/payments/pay_8", status=503, json={"error": {"code": "internal_error", "message": ""}})
    stored = _receive(client, "payment.succeeded", payment_json(None, id="pay_8", metadata={}))
    WebhookEvent.objects.filter(pk=stored.pk).update(processing_attempts=MAX_PROCESSING_ATTEMPTS - 1)
    with pytest.raises(PspUnavailable):
        event_process(event_pk=stored.pk)
    stored.refresh_from_db()
    assert (stored.outcome, stored.retry_at) == ("failed", None)  # left for staff to process again


def test_an_event_the_psps_direct_answer_already_applied_says_so(client):
    # given an attempt whose Buy Now answer already brought the PSP's version 2
    checkout = make_checkout(status=CheckoutStatus.PAID)
    attempt = make_attempt(checkout, status=AttemptStatus.SUCCEEDED, psp_payment_id="pay_1", psp_version=2)
    stored = _receive(client, "payment.succeeded", payment_json(attempt, id="pay_1", version=2))
    # when the webhook about that same version is processed
    assert event_process(event_pk=stored.pk) == "ignored"
    # then the event records why it changed nothing, and staff read it in the list and on the timeline
    stored.refresh_from_db()
    assert stored.outcome_detail == "already applied (v2)"
    client.force_login(make_staff(OPERATOR))
    listing = client.get("/admin/webhooks/webhookevent/").content.decode()
    assert "Ignored: already applied (v2)" in listing
    (entry,) = [entry for entry in checkout_timeline(checkout=checkout) if entry.kind == "webhook"]
    assert entry.detail == "Ignored · already applied (v2)"


def test_an_event_that_moves_the_attempt_says_what_it_applied(client):
    attempt = make_attempt(make_checkout(), status=AttemptStatus.PENDING, psp_payment_id="pay_1", psp_version=1)
    stored = _receive(client, "payment.succeeded", payment_json(attempt, id="pay_1", version=2))
    event_process(event_pk=stored.pk)
    stored.refresh_from_db()
    assert (stored.outcome, stored.outcome_detail) == ("processed", "applied v2 (Succeeded)")


def test_an_older_event_says_which_versions_it_was_behind(client):
    attempt = make_attempt(make_checkout(), status=AttemptStatus.SUCCEEDED, psp_payment_id="pay_1", psp_version=3)
    stored = _receive(client, "payment.pending", payment_json(attempt, id="pay_1", status="pending", version=2))
    event_process(event_pk=stored.pk)
    stored.refresh_from_db()
    assert (stored.outcome, stored.outcome_detail) == ("ignored", "older than what we hold (v2, we hold v3)")


def test_an_event_whose_change_fails_changes_nothing_and_is_failed_for_a_retry(client):
    # given an event that moves an attempt, and a status writer that fails at its storefront event
    checkout = make_checkout()
    attempt = make_attempt(checkout, status=AttemptStatus.PENDING, psp_payment_id="pay_1", psp_version=1)
    stored = _receive(client, "payment.succeeded", payment_json(attempt, id="pay_1", version=2))
    trouble = mock.patch("payments.transitions.outbox_checkout_moved", side_effect=RuntimeError("disk full"))
    # when it is processed
    with trouble, pytest.raises(RuntimeError):
        event_process(event_pk=stored.pk)
    # then nothing of the change is kept (the event commits with its change or not at all) and the
    # event is failed, due again
    attempt.refresh_from_db()
    checkout.refresh_from_db()
    assert (attempt.status, attempt.psp_version) == (AttemptStatus.PENDING, 1)
    assert checkout.status == CheckoutStatus.PROCESSING
    assert StorefrontEvent.objects.filter(checkout=checkout).count() == 0
    stored.refresh_from_db()
    assert (stored.outcome, stored.processing_attempts, stored.processed_at) == ("failed", 1, None)
    assert stored.retry_at is not None and "disk full" in stored.error
    # and its retry applies it, with its storefront event, and marks it processed
    assert event_process(event_pk=stored.pk) == "processed"
    stored.refresh_from_db()
    assert (stored.outcome, stored.processing_attempts) == ("processed", 2)
    assert list(StorefrontEvent.objects.filter(checkout=checkout).values_list("type", flat=True)) == ["checkout.paid"]


def test_a_failure_is_never_recorded_over_an_outcome_another_worker_recorded(client):
    # given an event another worker processed while this one failed
    attempt = make_attempt(make_checkout(), status=AttemptStatus.PENDING, psp_payment_id="pay_1", psp_version=1)
    stored = _receive(client, "payment.succeeded", payment_json(attempt, id="pay_1", version=2))
    assert event_process(event_pk=stored.pk) == "processed"
    # when this worker records its failure
    _record_failure(stored.pk, RuntimeError("late"))
    # then the event stays processed
    stored.refresh_from_db()
    assert (stored.outcome, stored.error, stored.retry_at) == ("processed", "", None)


def test_a_jump_in_versions_reads_the_psp_then_applies_and_marks_the_event_in_one_transaction(client, psp_stub):
    # given an event two versions ahead of the attempt: changes in between were missed
    checkout = make_checkout()
    attempt = make_attempt(checkout, status=AttemptStatus.PENDING, psp_payment_id="pay_1", psp_version=1)
    psp_stub.get(f"{PSP}/v1/payments/pay_1", json=payment_json(attempt, id="pay_1", version=3))
    stored = _receive(client, "payment.succeeded", payment_json(attempt, id="pay_1", version=3))
    # when it is processed
    assert event_process(event_pk=stored.pk) == "processed"
    # then the PSP's current object was applied, and its read is on the timeline once
    attempt.refresh_from_db()
    assert (attempt.status, attempt.psp_version) == (AttemptStatus.SUCCEEDED, 3)
    assert list(PspCall.objects.values_list("attempt_id", "cause")) == [(attempt.id, f"webhook {stored.event_id}")]
