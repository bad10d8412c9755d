"""success_url / failure_url: only absolute http(s) URLs whose host, as a browser parses it, is
allowed. Browsers follow the WHATWG URL rules, so the table holds what `urlsplit` misreads."""

import json

import pytest

from checkout.models import Checkout
from checkout.services import is_allowed_redirect  # where checkout_create uses it
from checkout.tests.factories import make_checkout
from payments.states import AttemptStatus
from payments.tests.factories import make_attempt

pytestmark = pytest.mark.django_db

ALLOWED = ["shop.example", "127.0.0.1", "[::1]", "bücher.example"]

HOSTILE = [
    "https://evil.example\\@shop.example/",  # a browser goes to evil.example
    "https://evil.example\\.shop.example/",
    "https:/\\evil.example",
    "https:\\\\evil.example",
    "https:evil.example",
    "https:/evil.example",
    "//evil.example/",
    "///evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "/thanks",
    "shop.example/thanks",
    "javascript:alert(1)",
    "JavaScript://shop.example/%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "ftp://shop.example/",
    "https://evil.example@shop.example/",  # user-info, refused even when it looks allowed
    "https://shop.example@evil.example/",
    "https://shop.example:pw@evil.example/",
    "https://@shop.example/",
    "https://shop.example%2f@evil.example/",
    "https://shop%2eexample/",
    "https://%73hop.example/",
    "https://shop.example%00.evil.example/",
    "https://evil.example/\t@shop.example",
    "https://shop.example\t.evil.example/",
    "https://sh\top.example/",  # a browser strips the tab: fine, but refused all the same
    "https://shop.example\n/",
    "https://shop.example\r/",
    " https://shop.example/",
    "https://shop.example/ ",
    "\x00https://shop.example/",
    "https://shop.example\x7f/",
    "https://evil.example/",
    "https://shop.example.evil.example/",
    "https://evilshop.example/",
    "https://shop.example../",
    "https://.shop.example/",
    "https://shop.example:/",
    "https://shop.example:0/",
    "https://shop.example:65536/",
    "https://shop.example:443:443/",
    "https://shop.example:https/",
    "https://[::1/",
    "https://[::1%25eth0]/",
    "https://[::2]/",
    "https://0x7f.0.0.1/",
    "https://2130706433/",
    "https://0177.0.0.1/",
    "https://127.1/",
    "https://127.0.0.1.evil.example/",
    "https://shop.example\u3002evil.example/",  # ideographic full stop: a browser makes it a dot
    "https://shop\u3002example/",
    "https://\uff53\uff48\uff4f\uff50.example/",  # full-width letters: a browser maps them to shop.example
    "https://bücher.example/",  # unicode is refused; the xn-- form is accepted
    "https://shop.example/\u202e",
    "https://shop.example/<script>",
    "http://",
    "https://",
    "",
    "x" * 3000,
]

ACCEPTED = [
    "https://shop.example/thanks",
    "http://shop.example",
    "HTTPS://SHOP.EXAMPLE/Thanks?order=1#top",
    "https://shop.example./thanks",
    "https://shop.example:8443/thanks",
    "https://shop.example/a@b/c?next=https://evil.example",  # "@" in the path is not user-info
    "https://shop.example/%2F%2Fevil.example",
    "http://127.0.0.1:8000/thanks",
    "http://[::1]:8000/thanks",
    "http://[0:0:0:0:0:0:0:1]/thanks",
    "https://xn--bcher-kva.example/",
]


@pytest.mark.parametrize("url", HOSTILE)
def test_a_hostile_url_is_refused(settings, url):
    settings.ALLOWED_REDIRECT_HOSTS = ALLOWED
    assert is_allowed_redirect(url) is False


@pytest.mark.parametrize("url", ACCEPTED)
def test_an_absolute_url_on_an_allowed_host_is_accepted(settings, url):
    settings.ALLOWED_REDIRECT_HOSTS = ALLOWED
    assert is_allowed_redirect(url) is True


@pytest.mark.parametrize("allowed", [["SHOP.example"], ["shop.example."], [" shop.example"]])
def test_allowed_hosts_compare_case_insensitively_without_the_trailing_dot(settings, allowed):
    settings.ALLOWED_REDIRECT_HOSTS = allowed
    assert is_allowed_redirect("https://Shop.Example./x") is True


@pytest.mark.parametrize("field", ["success_url", "failure_url"])
@pytest.mark.parametrize("url", [  # each one read by urlsplit as on 127.0.0.1, an allowed host
    "https://evil.example\\@127.0.0.1/", "https://evil.example\\\\@127.0.0.1/", "https://user@127.0.0.1/",
    "https://evil.example%5c@127.0.0.1/", "http://127.0.0.1:99999/", "https://127.0.0.1:0/",
])
def test_the_api_refuses_a_hostile_redirect_url_and_stores_nothing(api_client, psp_stub, field, url):
    # given a URL that urlsplit reads as on an allowed host, but that a browser reads otherwise or refuses
    body = {"amount": "12.50", "currency": "EUR", field: url}
    # when the storefront starts a checkout with it
    response = api_client.post("/api/checkouts/", data=json.dumps(body), content_type="application/json")
    # then it is a 400 naming the field; nothing is registered at the PSP or stored
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert Checkout.objects.count() == 0 and len(psp_stub.calls) == 0


@pytest.mark.parametrize(("status", "field"), [(AttemptStatus.SUCCEEDED, "success_url"),
                                               (AttemptStatus.FAILED, "failure_url")])
def test_the_result_page_checks_the_shops_url_again_before_sending_the_shopper(client, status, field):
    # given a checkout whose stored URL does not pass the rule (stored before it was strict)
    checkout = make_checkout(**{field: "https://evil.example\\@127.0.0.1/"})
    make_attempt(checkout, status=status)
    # when the shopper sees the result
    page = client.get(f"/checkout/{checkout.id}/result/").content.decode()
    # then the page neither links nor refreshes to it
    assert "evil.example" not in page


def test_a_psp_action_url_that_is_not_plain_http_is_not_followed(client, settings):
    # given an attempt that requires action at a `javascript:` URL
    from checkout.navigation import next_url_after_buy_now

    checkout = make_checkout()
    attempt = make_attempt(checkout, status=AttemptStatus.REQUIRES_ACTION, action_url="javascript:alert(1)")
    # when Buy Now decides where the browser goes: then it goes to our result page
    assert next_url_after_buy_now(checkout, attempt) == f"{settings.SITE_URL}/checkout/{checkout.id}/result/"
