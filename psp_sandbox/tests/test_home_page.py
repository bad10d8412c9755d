"""The home page, GET /: what a developer's browser sees at the sandbox's base URL."""

from __future__ import annotations

import re
import uuid

import pytest
import requests

from .client import Psp
from .sandbox_process import API_KEY, SECRET

pytestmark = pytest.mark.sandbox

HOSTILE = "\"'><script>alert(1)</script><img src=x onerror=alert(2)>&amp;"


def _home(psp: Psp, **kwargs: object) -> requests.Response:
    # No bearer key: a browser opens it.
    return requests.get(psp.url + "/", timeout=10, **kwargs)  # type: ignore[arg-type]


def _text(html: str) -> str:
    """The page with its tags stripped, for "is this shown" checks."""
    return re.sub(r"<[^>]+>", "", html)


def test_the_home_page_is_html_that_needs_no_key_and_links_the_docs(psp: Psp) -> None:
    # when a browser opens the base URL, without a bearer key
    page = _home(psp)
    # then it is a self-contained HTML page (no script, nothing loaded from elsewhere)
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.text.startswith("<!doctype html>")
    assert "<script" not in page.text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text)
    # saying what it is, where it listens, and where its docs and endpoints are
    assert "Sandbox PSP" in page.text
    assert psp.url in page.text
    assert "docs/psp-protocol.md" in page.text
    assert '<a href="/sandbox/faults">' in page.text
    assert '<a href="/sandbox/health">' in page.text
    # with the time scale the shared sandbox runs at (--time-scale 0.001 --settle-delay 1000)
    assert "1000 PSP s &times; time scale 0.001 = 1 s real" in page.text


def test_it_lists_a_payment_and_a_refund_made_just_before(psp: Psp) -> None:
    # given a payment, a refund of it, and a 3-D Secure payment waiting for the shopper
    payment = psp.paid("pm_card_mastercard")
    refund = psp.refund(payment, "2.00", reason="damaged box").json()
    waiting = psp.paid("pm_card_3ds")
    # when the home page is opened
    text = _home(psp).text
    # then the payments are there: id, status, amount and currency, method, created
    row = re.search(rf"<tr><td><code>{payment['id']}</code>.*?</tr>", text)
    assert row is not None, text
    cells = _text(row.group(0))
    for shown in ("succeeded", "12.50 EUR", "pm_card_mastercard", payment["checkout_id"], payment["created_at"]):
        assert shown in cells
    # the waiting one links to its 3-D Secure page
    assert f'<a href="/sandbox/3ds/{waiting["id"]}">' in text
    # and the refund, with its payment, amount and reason
    row = re.search(rf"<tr><td><code>{refund['id']}</code>.*?</tr>", text)
    assert row is not None, text
    cells = _text(row.group(0))
    for shown in (payment["id"], "pending", "2.00 EUR", "damaged box"):
        assert shown in cells


def test_it_shows_the_armed_faults_and_the_webhook_knobs_without_using_them(psp: Psp) -> None:
    # given two armed faults, one of which matches every path, and webhook knobs
    psp.arm({"path": "/v1/payments/{id}/refunds", "fault": "slow:2.5", "times": 3})
    psp.arm({"path": "/*", "fault": "error_before"})
    psp.arm({"webhooks": {"duplicate": 0.3, "reorder": True}})
    # when the home page is opened, twice
    pages = [_home(psp), _home(psp)]
    # then both times it is the page (the catch-all fault is not used on it), showing the faults
    assert [page.status_code for page in pages] == [200, 200]
    text = _text(pages[1].text)
    assert "/v1/payments/{id}/refunds" in text
    assert "slow:2.5" in text
    assert "error_before" in text
    assert re.search(r"duplicate\s*0\.3", text)
    assert re.search(r"drop\s*0\.0", text)
    assert re.search(r"reorder\s*true", text)
    # and both faults are still armed, times untouched
    assert psp.get("/sandbox/faults").json()["faults"] == [
        {"path": "/v1/payments/{id}/refunds", "fault": "slow:2.5", "times": 3},
        {"path": "/*", "fault": "error_before", "times": 1},
    ]


def test_with_nothing_armed_it_says_so(psp: Psp) -> None:
    psp.http.delete(psp.url + "/sandbox/faults", timeout=10)
    assert "No fault armed." in _home(psp).text


def test_it_never_shows_the_api_key_or_the_webhook_secret(psp: Psp) -> None:
    # given a sandbox with payments, refunds and faults to show
    psp.refund(psp.paid(), "1.00")
    psp.arm({"path": "/v1/payments", "fault": "drop_after", "times": 5})
    # when the page is opened, even with the bearer key sent along
    pages = [_home(psp), _home(psp, headers={"Authorization": f"Bearer {API_KEY}"})]
    # then neither secret appears, whole or in part
    secret_key = SECRET.removeprefix("whsec_")
    for page in pages:
        assert page.status_code == 200
        assert API_KEY not in page.text
        assert secret_key not in page.text
        assert secret_key[:16] not in page.text
        assert "whsec_" not in page.text


def test_text_from_requests_is_escaped(psp: Psp) -> None:
    # given a checkout whose description, a refund whose reason and a fault whose path are hostile
    session = psp.post(
        "/v1/sessions",
        {"checkout_id": uuid.uuid4().hex, "amount": "12.50", "currency": "EUR", "description": HOSTILE},
    ).json()
    payment = psp.pay(session).json()
    assert psp.refund(payment, "1.00", reason=HOSTILE).status_code == 201
    psp.arm({"path": "/v1/" + HOSTILE, "fault": "error_after"})
    # and a hostile payment method, which the sandbox refuses: it never reaches the page
    refused = psp.pay(psp.create_session(), method=HOSTILE)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_payment_method"
    # when the page is opened with a hostile Host header too
    page = _home(psp, headers={"Host": '"><script>alert(3)</script>'})
    # then it is the page, with every one of them shown as text, none as markup
    assert page.status_code == 200
    assert "<script" not in page.text
    assert "<img" not in page.text
    assert "alert(3)" not in page.text  # a bad Host is replaced by the address it listens on
    escaped = "&quot;&#x27;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;&amp;amp;"
    assert page.text.count(escaped) >= 3  # description, refund reason, fault path
    assert payment["id"] in page.text


def test_the_home_page_is_read_only(psp: Psp) -> None:
    answer = requests.post(psp.url + "/", json={}, timeout=10)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "GET"
    assert answer.json()["error"]["code"] == "method_not_allowed"
