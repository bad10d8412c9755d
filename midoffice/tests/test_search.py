"""The search box: exact on ids, tokens and PSP ids, prefix on the reference."""

import pytest

from checkout.tests.factories import make_checkout
from midoffice.search import parse_term
from midoffice.tests.factories import VIEWER, make_staff
from payments.models import Refund
from payments.states import AttemptStatus, CheckoutStatus
from payments.tests.factories import make_attempt

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("text", "kind"), [
    ("6f1c6f1c-6f1c-4f1c-8f1c-6f1c6f1c6f1c", "id"), ("tok_abc", "token"), ("pay_1", "payment"), ("re_1", "refund"),
    ("evt_1", "event"), ("order-10", "reference"), ("  order-10 ", "reference"),
])
def test_the_term_says_what_it_is(text, kind):
    assert parse_term(text).kind == kind


def test_nothing_is_no_search():
    assert parse_term("   ") is None


@pytest.fixture
def shop():
    found = make_checkout(reference="order-1042", status=CheckoutStatus.PAID)
    attempt = make_attempt(found, status=AttemptStatus.SUCCEEDED, psp_payment_id="pay_found")
    Refund.objects.create(checkout=found, attempt=attempt, amount="1.00", currency="EUR", idempotency_key="k",
                          psp_refund_id="re_found")
    other = make_checkout(reference="order-2000")
    make_attempt(other, psp_payment_id="pay_other")
    return found, attempt


@pytest.mark.parametrize("term", ["order-104", "order-1042", "pay_found", "re_found", "checkout-id", "attempt-id",
                                  "token"])
def test_the_checkout_list_finds_a_checkout_by_any_of_its_names(client, shop, term):
    found, attempt = shop
    term = {"checkout-id": str(found.id), "attempt-id": str(attempt.id), "token": found.psp_token}.get(term, term)
    client.force_login(make_staff(VIEWER))
    page = client.get("/admin/checkout/checkout/", {"q": term}).content.decode()
    assert str(found.id) in page and "order-2000" not in page


@pytest.mark.parametrize("term", ["order-1", "der-1042", "ORDER-1042", "pay_nope"])
def test_the_reference_is_a_case_sensitive_prefix_and_ids_are_exact(client, shop, term):
    client.force_login(make_staff(VIEWER))
    page = client.get("/admin/payments/paymentattempt/", {"q": term}).content.decode()
    assert ("pay_found" in page) == (term == "order-1")
