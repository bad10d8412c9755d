"""Who may do what in the mid-office: viewers read, operators act, nobody writes a status by hand."""

import json

import pytest
from django.contrib.auth.models import Group

from checkout.tests.factories import make_checkout
from midoffice.tests.factories import OPERATOR, VIEWER, ensure_staff_groups, make_staff
from payments.models import PaymentAttempt, Refund, StaffAction
from payments.states import AttemptStatus, CheckoutStatus
from payments.tests.factories import make_attempt, payment_json
from webhooks.tests.factories import event

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid():
    checkout = make_checkout(status=CheckoutStatus.PAID)
    return checkout, make_attempt(checkout, status=AttemptStatus.SUCCEEDED, psp_payment_id="pay_1", psp_version=1)


def test_the_data_migration_made_both_groups():
    ensure_staff_groups()  # a no-op unless a transactional test flushed them
    viewer = set(Group.objects.get(name=VIEWER).permissions.values_list("codename", flat=True))
    operator = set(Group.objects.get(name=OPERATOR).permissions.values_list("codename", flat=True))
    assert {"view_checkout", "view_paymentattempt", "view_refund", "view_webhookevent", "view_pspcall"} <= viewer
    assert not {codename for codename in viewer if not codename.startswith("view_")}
    assert {"view_storefront", "view_notificationendpoint", "view_storefrontevent"} <= viewer
    assert operator - viewer == {"ask_psp", "resolve_review", "export_payments", "issue_refund", "reprocess_event",
                                 "send_notifications"}


@pytest.mark.parametrize("group", [VIEWER, OPERATOR])
def test_both_groups_see_the_lists_and_the_checkout_page(client, paid, group):
    checkout, _attempt = paid
    client.force_login(make_staff(group))
    for url in ("/admin/", "/admin/checkout/checkout/", "/admin/payments/paymentattempt/",
                f"/admin/checkout/checkout/{checkout.id}/change/", "/admin/webhooks/webhookevent/",
                "/admin/payments/storefrontevent/", f"/admin/checkout/storefront/{checkout.storefront_id}/change/"):
        assert client.get(url).status_code == 200, url


def test_a_viewer_cannot_refund_ask_resolve_export_or_reprocess(client, paid):
    checkout, attempt = paid
    client.force_login(make_staff(VIEWER))
    page = client.get(f"/admin/checkout/checkout/{checkout.id}/change/").content.decode()
    assert "refund-link" not in page and "Ask the PSP now" not in page
    assert client.get(f"/admin/checkout/checkout/{checkout.id}/refund/").status_code == 403
    assert client.post(f"/admin/checkout/checkout/{checkout.id}/refund/",
                       {"amount": "1.00", "reason": "x", "request_key": "6f1c6f1c-6f1c-4f1c-8f1c-6f1c6f1c6f1c",
                        "confirm": "1"}).status_code == 403
    assert client.post(f"/admin/payments/paymentattempt/{attempt.id}/ask-psp/").status_code == 403
    assert client.get(f"/admin/payments/paymentattempt/{attempt.id}/resolve/").status_code == 403
    assert client.get("/admin/payments/paymentattempt/export.csv").status_code == 403
    assert client.post("/admin/webhooks/webhookevent/1/reprocess/").status_code == 403
    # and the bulk action is not offered to a viewer either
    response = client.post("/admin/payments/paymentattempt/",
                           {"action": "ask_psp_now", "_selected_action": [attempt.id]})
    assert response.status_code == 200  # Django re-shows the list: no such action for this user
    assert not Refund.objects.exists() and not StaffAction.objects.exists()


@pytest.mark.parametrize("who", ["viewer", "operator", "superuser"])
def test_nobody_can_edit_a_status_or_an_amount(client, paid, who):
    checkout, attempt = paid
    user = make_staff(superuser=True) if who == "superuser" else make_staff(VIEWER if who == "viewer" else OPERATOR)
    client.force_login(user)
    for url, data in [
        (f"/admin/payments/paymentattempt/{attempt.id}/change/", {"status": "failed", "amount": "1.00"}),
        (f"/admin/checkout/checkout/{checkout.id}/change/", {"status": "refunded", "amount": "1.00"}),
    ]:
        assert client.post(url, data).status_code == 403
    attempt.refresh_from_db()
    checkout.refresh_from_db()
    assert (attempt.status, attempt.amount, checkout.status) == ("succeeded", checkout.amount, "paid")


READ_ONLY = ["payments/paymentattempt", "payments/refund", "payments/statuschange", "payments/pspcall",
             "payments/staffaction", "webhooks/webhookevent", "checkout/checkout", "payments/storefrontevent",
             "checkout/storefront"]


@pytest.mark.parametrize("model", READ_ONLY)
def test_read_only_records_refuse_add_change_and_delete_even_for_superusers(client, paid, model):
    client.force_login(make_staff(superuser=True))
    assert client.get(f"/admin/{model}/add/").status_code == 403
    assert client.post(f"/admin/{model}/add/", {}).status_code == 403
    changelist = client.get(f"/admin/{model}/")
    assert changelist.status_code == 200
    assert "delete_selected" not in changelist.content.decode()


def test_a_superuser_cannot_delete_an_attempt_or_an_event(client, paid):
    # given a recorded PSP event about a succeeded attempt, whose processing failed
    _checkout, attempt = paid
    from webhooks.models import WebhookEvent

    body = json.dumps(event("payment.succeeded", payment_json(attempt, id="pay_1"), event_id="evt_1"))
    stored = WebhookEvent.objects.create(event_id="evt_1", type="payment.succeeded", headers={},
                                         body=body, outcome="failed")
    client.force_login(make_staff(superuser=True))
    # when a superuser tries to delete the attempt and the event, and to edit the event
    assert client.post(f"/admin/payments/paymentattempt/{attempt.id}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"/admin/webhooks/webhookevent/{stored.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"/admin/webhooks/webhookevent/{stored.pk}/change/",
                       {"outcome": "processed", "body": "{}"}).status_code == 403
    # then both rows are still there, exactly as they were
    assert PaymentAttempt.objects.filter(id=attempt.id, status=AttemptStatus.SUCCEEDED).exists()
    assert list(WebhookEvent.objects.values_list("event_id", "outcome", "body")) == [("evt_1", "failed", body)]


def test_staff_without_a_group_see_no_payment_data(client, paid):
    client.force_login(make_staff())
    assert client.get("/admin/payments/paymentattempt/").status_code == 403
    assert "Attempts by status" not in client.get("/admin/").content.decode()
