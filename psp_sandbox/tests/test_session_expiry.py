"""Session expiry, with a sandbox whose sessions live one second."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from .client import Psp
from .receiver import Receiver
from .sandbox_process import SandboxProcess

pytestmark = pytest.mark.sandbox

TTL = 1.0


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    storage = tmp_path_factory.mktemp("ttl") / "psp.sqlite3"
    process = SandboxProcess(storage, "--session-ttl", str(TTL)).start()
    yield process
    process.stop()


@pytest.fixture
def psp_ttl(short_lived: SandboxProcess, receiver: Receiver) -> Psp:
    return Psp(short_lived.url, webhook_url=receiver.url())


def test_expiry_rules(psp_ttl: Psp) -> None:
    # given four sessions: unpaid, declined, waiting for 3-D Secure, and paid
    unpaid = psp_ttl.create_session()
    declined = psp_ttl.create_session()
    psp_ttl.pay(declined, "pm_card_declined")
    waiting = psp_ttl.create_session()
    live = psp_ttl.pay(waiting, "pm_card_3ds").json()
    paid = psp_ttl.create_session()
    psp_ttl.pay(paid)
    assert psp_ttl.session(unpaid["token"])["status"] == "open"
    # when their time to live has passed
    time.sleep(TTL + 0.2)
    # then the unpaid and the declined ones are expired and refuse a new payment
    for session in (unpaid, declined):
        assert psp_ttl.session(session["token"])["status"] == "expired"
        answer = psp_ttl.pay(session)
        assert answer.status_code == 422
        assert answer.json()["error"]["code"] == "session_expired"
    # and the one with a live payment still answers 200 with that payment (token rule first)
    again = psp_ttl.pay(waiting)
    assert again.status_code == 200
    assert again.json()["id"] == live["id"]
    assert psp_ttl.session(waiting["token"])["status"] == "expired"
    # and a completed session never expires
    assert psp_ttl.session(paid["token"])["status"] == "completed"
    assert psp_ttl.pay(paid).status_code == 200


def test_amount_mismatch_comes_before_expiry(psp_ttl: Psp) -> None:
    session = psp_ttl.create_session()
    time.sleep(TTL + 0.2)
    answer = psp_ttl.pay(session, amount="1.00")
    assert answer.json()["error"]["code"] == "amount_mismatch"
