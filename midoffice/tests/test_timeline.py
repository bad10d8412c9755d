"""A checkout's timeline: PSP calls (polls among them), webhooks, status changes and staff actions,
in time order, each with its cause, and nothing secret in it."""

import json

import pytest
import time_machine
from django.utils import timezone

from checkout.tests.factories import make_checkout
from midoffice.tests.factories import OPERATOR, make_staff
from midoffice.timeline import checkout_timeline
from payments.models import PspCall, StatusChange
from payments.polling import attempt_poll
from payments.staff import attempt_ask_psp
from payments.states import AttemptStatus, CheckoutStatus
from payments.tests.factories import PSP, make_attempt, payment_json
from payments.transitions import Cause, record_creation
from webhooks.payloads import event_read
from webhooks.processing import event_process
from webhooks.services import event_record
from webhooks.tests.factories import event

pytestmark = pytest.mark.django_db



def test_the_timeline_tells_the_whole_story_in_order(psp_stub, django_capture_on_commit_callbacks):
    staff = make_staff(OPERATOR, username="olivia")
    start = timezone.now()
    checkout = make_checkout(status=CheckoutStatus.PROCESSING)
    record_creation(checkout, Cause(kind="api", reference="storefront"))
    attempt = make_attempt(checkout, status=AttemptStatus.PENDING, psp_payment_id="pay_1", psp_version=1,
                           payment_method="pm_bank_transfer")
    psp_stub.get(f"{PSP}/v1/payments/pay_1", json=payment_json(attempt, id="pay_1", status="pending", version=1,
                                                               token=checkout.psp_token))
    with time_machine.travel(start + timezone.timedelta(seconds=1)):
        attempt_poll(attempt_id=attempt.id)
    with time_machine.travel(start + timezone.timedelta(seconds=2)):
        attempt_ask_psp(attempt_id=attempt.id, actor_id=staff.id)
    with time_machine.travel(start + timezone.timedelta(seconds=3)):
        payload = event("payment.succeeded", payment_json(attempt, id="pay_1", version=2, token=checkout.psp_token))
        with django_capture_on_commit_callbacks(execute=False):
            read = event_read(payload["id"], json.dumps(payload).encode())
            stored = event_record(event=read, headers={})
        event_process(event_pk=stored.pk)
    entries = checkout_timeline(checkout=checkout)
    story = [(entry.kind, entry.title.split(" → ")[0], entry.cause.split(" · ")[0]) for entry in entries]
    assert story == [
        ("status", "Checkout ∅", "storefront API"),
        ("psp_call", "Poll: GET /v1/payments/pay_1", "poll"),
        ("psp_call", "GET /v1/payments/pay_1", "staff"),
        ("staff", "Asked the PSP", "staff"),
        ("webhook", f"payment.succeeded {payload['id']}", "the PSP"),
        ("status", "Attempt Pending", "webhook"),
        ("status", "Checkout Processing", "webhook"),
    ]
    assert entries[2].cause == f"staff · ask the PSP now user #{staff.id}"
    assert entries[3].cause == "staff · olivia"
    assert entries[1].detail.endswith("ms") and '"status": "pending"' in entries[1].body
    assert entries[3].detail == "still pending"
    everything = " ".join(entry.body for entry in entries)
    assert checkout.psp_token not in everything and f"…{checkout.psp_token[-4:]}" in everything


def test_the_checkout_page_shows_the_timeline_and_masks_the_token(client):
    client.force_login(make_staff(OPERATOR))
    checkout = make_checkout()
    record_creation(checkout, Cause(kind="api", reference="storefront"))
    page = client.get(f"/admin/checkout/checkout/{checkout.id}/change/").content.decode()
    assert 'id="timeline"' in page and "storefront API" in page
    assert checkout.psp_token not in page and f"…{checkout.psp_token[-4:]}" in page
    assert "midoffice/live.js" in page  # refreshes itself


def test_the_timeline_says_each_thing_once_in_human_words(client):
    # given a checkout refunded in part by a staff member whose username is "staff", after the PSP's
    # direct answer moved its attempt (recorded with the raw cause values)
    staff = make_staff(OPERATOR, username="staff")
    checkout = make_checkout(status=CheckoutStatus.PAID)
    attempt = make_attempt(checkout, status=AttemptStatus.SUCCEEDED, psp_payment_id="pay_1")
    StatusChange.objects.create(checkout=checkout, attempt=attempt, subject="attempt", from_status="started",
                                to_status="succeeded", cause="psp_answer")
    StatusChange.objects.create(checkout=checkout, subject="checkout", from_status="paid",
                                to_status="partially_refunded", cause="staff", cause_reference="mid-office refund",
                                actor=staff)
    PspCall.objects.create(method="POST", path="/v1/payments", status_code=201, duration_ms=4,
                           checkout_id=checkout.id, cause="psp_answer")
    # when staff read the checkout's timeline
    entries = checkout_timeline(checkout=checkout)
    client.force_login(make_staff(OPERATOR))
    page = client.get(f"/admin/checkout/checkout/{checkout.id}/change/").content.decode()
    # then the causes and statuses are the TextChoices' labels, each word said once
    assert sorted((entry.title, entry.cause) for entry in entries) == sorted([
        ("Attempt Started → Succeeded", "PSP answer"),
        ("Checkout Paid → Partially Refunded", "staff · mid-office refund"),
        ("POST /v1/payments → 201", "PSP answer"),
    ])
    timeline = page[page.index('id="timeline"'):]
    assert "psp_answer" not in timeline and "partially_refunded" not in timeline.replace("s-partially_refunded", "")
    assert "PSP call" in timeline and "pspcall" not in timeline
    # and the page's summary says the status as the fields do, not the stored value
    summary = page[page.index('id="live-summary"'):page.index('id="timeline"')]
    assert ">Paid<" in summary and ">paid<" not in summary
