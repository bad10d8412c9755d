"""The 3-D Secure page: what the shopper's browser sees and does."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from .client import Psp

pytestmark = pytest.mark.sandbox


def _forms(html: str) -> dict[str, str]:
    """Button label -> the form action it submits to."""
    forms = re.findall(r'<form method="post" action="([^"]+)">.*?<button[^>]*>([^<]+)</button>', html)
    return {label: action for action, label in forms}


def test_the_page_shows_the_amount_and_approve_and_decline(psp: Psp) -> None:
    # given a payment waiting for 3-D Secure
    payment = psp.paid("pm_card_3ds")
    # when the shopper's browser opens next_action.url (no bearer key: it is a browser)
    page = requests.get(payment["next_action"]["url"], timeout=10)
    # then it is an HTML page with the amount and two buttons that POST back
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "12.50 EUR" in page.text
    assert 'name="viewport"' in page.text
    assert "<script" not in page.text
    assert set(_forms(page.text)) == {"Approve", "Decline"}


def _click(psp: Psp, payment: dict[str, object], button: str) -> requests.Response:
    url = str(payment["next_action"]["url"])  # type: ignore[index]
    action = _forms(requests.get(url, timeout=10).text)[button]
    return requests.post(
        psp.url + action,
        data={"action": button.lower()},
        allow_redirects=False,
        timeout=10,
    )


def test_approve_succeeds_and_sends_the_browser_back_with_303(psp: Psp) -> None:
    # given a payment waiting for 3-D Secure, with a query in its redirect_url
    payment = psp.paid("pm_card_3ds", redirect_url="https://shop.example/return?step=2&lang=en")
    # when the shopper approves
    answer = _click(psp, payment, "Approve")
    # then the browser goes back with 303, the query kept and token and payment_id added
    assert answer.status_code == 303
    location = urlsplit(answer.headers["Location"])
    assert location._replace(query="").geturl() == "https://shop.example/return"
    assert parse_qs(location.query) == {
        "step": ["2"],
        "lang": ["en"],
        "token": [payment["token"]],
        "payment_id": [payment["id"]],
    }
    assert location.query.startswith("step=2&lang=en&")
    # and the payment succeeded, as version 2, its session completed
    approved = psp.payment(payment["id"])
    assert (approved["status"], approved["version"], approved["next_action"]) == (
        "succeeded",
        2,
        None,
    )
    assert psp.session(payment["token"])["status"] == "completed"


def test_decline_fails_with_authentication_failed(psp: Psp) -> None:
    payment = psp.paid("pm_card_3ds", redirect_url="https://shop.example/return")
    answer = _click(psp, payment, "Decline")
    assert answer.status_code == 303
    assert answer.headers["Location"] == (
        f"https://shop.example/return?token={payment['token']}&payment_id={payment['id']}"
    )
    declined = psp.payment(payment["id"])
    assert (declined["status"], declined["failure_code"], declined["version"]) == (
        "failed",
        "authentication_failed",
        2,
    )


def test_a_second_click_changes_nothing_and_still_redirects(psp: Psp) -> None:
    # given a payment that was approved
    payment = psp.paid("pm_card_3ds")
    first = _click(psp, payment, "Approve")
    action = _forms(requests.get(payment["next_action"]["url"], timeout=10).text)
    # when the (stale) page is used again: Decline, then Approve
    base = f"{psp.url}/sandbox/3ds/{payment['id']}"
    again = [requests.post(f"{base}/{verb}", allow_redirects=False, timeout=10) for verb in ("decline", "approve")]
    # then nothing changes, and the browser is still sent back
    assert [answer.status_code for answer in again] == [303, 303]
    assert all(answer.headers["Location"] == first.headers["Location"] for answer in again)
    current = psp.payment(payment["id"])
    assert (current["status"], current["version"]) == ("succeeded", 2)
    assert "Approve" not in action  # the page no longer offers a choice


def test_an_unknown_payment_page_is_404(psp: Psp) -> None:
    answer = requests.get(psp.url + "/sandbox/3ds/pay_unknown", timeout=10)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
    answer = requests.post(psp.url + "/sandbox/3ds/pay_unknown/approve", allow_redirects=False, timeout=10)
    assert answer.status_code == 404
