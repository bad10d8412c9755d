import pytest

from checkout.tests.factories import make_checkout
from midoffice.tests.factories import OPERATOR, make_staff
from payments.states import AttemptStatus
from payments.tests.factories import make_attempt

pytestmark = pytest.mark.django_db


def test_pages_render(client):
    client.force_login(make_staff(OPERATOR))
    checkout = make_checkout()
    attempt = make_attempt(checkout, status=AttemptStatus.SUCCEEDED, psp_payment_id="pay_1")
    for url in ["/admin/", "/admin/payments/paymentattempt/", "/admin/checkout/checkout/",
                f"/admin/checkout/checkout/{checkout.id}/change/", f"/admin/payments/paymentattempt/{attempt.id}/change/",
                "/admin/payments/refund/", "/admin/payments/statuschange/", "/admin/payments/pspcall/",
                "/admin/payments/staffaction/", "/admin/webhooks/webhookevent/", "/admin/webhooks/webhookrefusal/",
                f"/admin/checkout/checkout/{checkout.id}/refund/", "/admin/payments/paymentattempt/export.csv",
                "/admin/checkout/checkout/?q=order", f"/admin/payments/paymentattempt/?q={checkout.id}"]:
        response = client.get(url)
        assert response.status_code == 200, (url, response.content[:3000])
