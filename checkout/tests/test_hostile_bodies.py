"""Whatever a storefront or a shopper's browser sends as JSON, the API answers a 4xx in the
contract's error shape and stores nothing: never a 500."""

import json

import pytest

from checkout.models import Checkout
from checkout.tests.factories import make_checkout
from payments.models import PaymentAttempt, PspCall, Refund

pytestmark = pytest.mark.django_db

HOSTILE = [
    b"[" * 60_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000,  # deeper than the parser goes, under 64 KiB
    b'{"amount": 1e999999, "currency": "EUR"}', b'{"amount": ' + b"9" * 5000 + b', "currency": "EUR"}',
    b'{"amount": NaN, "currency": "EUR"}', b'{"amount": -Infinity, "currency": "EUR"}', b"\xff\xfe", b"",
    b'{"amount": {"a": 1}, "currency": ["EUR"], "token": 1, "payment_method": {}, "reason": [], "success_url": 1}',
    b'{"amount": "12.50", "currency": "EUR", "description": ' + b"9" * 4000 + b"}",
    b'{"token": null, "payment_method": 1e999}', b"[]", b'"text"', b"null", b"123",
]


@pytest.mark.parametrize("body", HOSTILE)
@pytest.mark.parametrize("endpoint", ["checkouts", "buy-now", "refunds"])
def test_a_hostile_json_body_is_a_4xx_in_the_contracts_shape_and_stores_nothing(api_client, psp_stub, endpoint,
                                                                                  body):
    # given a checkout, and an API key for the endpoints that need one
    checkout = make_checkout()
    api_client.raise_request_exception = False
    path = {"checkouts": "/api/checkouts/", "buy-now": f"/api/checkouts/{checkout.id}/buy-now/",
            "refunds": f"/api/checkouts/{checkout.id}/refunds/"}[endpoint]
    # when the body arrives
    response = api_client.post(path, data=body, content_type="application/json")
    # then it is a 4xx with {"error": {"code", "message", "fields"}}, and nothing was made
    assert 400 <= response.status_code < 500
    assert set(json.loads(response.content)["error"]) == {"code", "message", "fields"}
    assert (Checkout.objects.count(), PaymentAttempt.objects.count(), Refund.objects.count()) == (1, 0, 0)
    assert PspCall.objects.count() == 0 and len(psp_stub.calls) == 0
