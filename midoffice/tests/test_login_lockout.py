"""Admin sign-in is locked out by django-axes, in the database (shared by all processes): per username
and address, per address over all usernames, for the client a trusted proxy names, one sign-in
at a time per address; and a staff session lasts a working day."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from midoffice.tests.factories import OPERATOR, PASSWORD, make_staff

pytestmark = pytest.mark.django_db

LOCKED = 429
WRONG = 200  # the form again, with "Please enter the correct username and password"
SIGNED_IN = 302


def failure_rows():
    # Imported here so that this module also runs (and fails honestly) without axes installed.
    from axes.models import AccessAttempt

    return AccessAttempt.objects


def sign_in(client, username, password, addr="10.0.0.1", **headers):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password},
                       REMOTE_ADDR=addr, **headers)


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME = 5, timedelta(seconds=900)
    settings.ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS = 20


def test_the_settings_feed_axes():
    from paysite import settings as module

    assert module.AXES_FAILURE_LIMIT == module.ADMIN_LOGIN_MAX_FAILURES == 5
    assert module.AXES_COOLOFF_TIME == timedelta(seconds=module.ADMIN_LOGIN_WINDOW) == timedelta(minutes=15)
    assert module.ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS == 20


def test_after_five_failures_even_the_right_password_is_locked_out(client):
    user = make_staff(OPERATOR, username="alice")
    make_staff(OPERATOR, username="carol")
    for _ in range(4):
        assert sign_in(client, "alice", "guess").status_code == WRONG
    fifth = sign_in(client, "alice", "guess")
    assert fifth.status_code == LOCKED
    assert "Too many failed sign-ins from your address. Wait\n15 minute(s)" in fifth.content.decode()
    response = sign_in(client, "alice", PASSWORD)
    assert response.status_code == LOCKED
    assert "_auth_user_id" not in client.session
    # a colleague behind the same address is not locked out by those five
    assert sign_in(Client(), "carol", PASSWORD).status_code == SIGNED_IN
    # nor is alice from another address
    assert sign_in(client, "alice", PASSWORD, addr="10.0.0.2").status_code == SIGNED_IN
    assert client.session["_auth_user_id"] == str(user.pk)


def test_the_lock_ends_with_the_window(client):
    make_staff(OPERATOR, username="bob")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(5):
            sign_in(client, "bob", "guess")
    with time_machine.travel(start + timedelta(minutes=14), tick=False):
        assert sign_in(client, "bob", PASSWORD).status_code == LOCKED
    with time_machine.travel(start + timedelta(minutes=15, seconds=1), tick=False):
        assert sign_in(client, "bob", PASSWORD).status_code == SIGNED_IN
    assert not failure_rows().filter(username="bob").exists()  # a success wipes the slate


def test_a_success_clears_earlier_failures(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    make_staff(OPERATOR, username="carol")
    sign_in(client, "carol", "guess")
    sign_in(client, "carol", "guess")
    assert sign_in(client, "carol", PASSWORD).status_code == SIGNED_IN
    client.logout()
    sign_in(client, "carol", "guess")
    sign_in(client, "carol", "guess")
    assert sign_in(client, "carol", PASSWORD).status_code == SIGNED_IN


def test_one_address_spreading_guesses_over_many_usernames_is_locked_out():
    make_staff(OPERATOR, username="dave")
    guesser = Client()
    # nineteen usernames, one guess each: under every cap
    for number in range(19):
        assert sign_in(guesser, f"user{number}", "guess", addr="10.0.0.9").status_code == WRONG
    # the twentieth guess from that address reaches its cap
    assert sign_in(guesser, "user19", "guess", addr="10.0.0.9").status_code == LOCKED
    # now nobody signs in from that address, a real staff member with the right password included
    assert sign_in(Client(), "dave", PASSWORD, addr="10.0.0.9").status_code == LOCKED
    assert sign_in(Client(), "dave", PASSWORD, addr="10.0.0.10").status_code == SIGNED_IN


def test_a_client_behind_a_trusted_proxy_is_identified_by_x_forwarded_for(settings):
    settings.TRUSTED_PROXIES = ["10.1.0.0/16"]
    make_staff(OPERATOR, username="erin")
    guesser = Client()
    for number in range(5):
        # whatever the client puts in front, the proxy appends the address it saw
        sign_in(guesser, "erin", "guess", addr="10.1.0.5",
                HTTP_X_FORWARDED_FOR=f"192.0.2.{number}, 198.51.100.7, 10.1.0.4")
    assert list(failure_rows().values_list("ip_address", flat=True)) == ["198.51.100.7"]
    assert sign_in(Client(), "erin", PASSWORD, addr="10.1.0.5",
                   HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == LOCKED
    # the proxy's other clients are not locked out with that one
    assert sign_in(Client(), "erin", PASSWORD, addr="10.1.0.5",
                   HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == SIGNED_IN


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(settings):
    settings.TRUSTED_PROXIES = ["10.1.0.0/16"]
    make_staff(OPERATOR, username="frank")
    guesser = Client()
    for number in range(5):
        sign_in(guesser, "frank", "guess", addr="203.0.113.5", HTTP_X_FORWARDED_FOR=f"192.0.2.{number}")
    assert list(failure_rows().values_list("ip_address", flat=True)) == ["203.0.113.5"]
    assert sign_in(Client(), "frank", PASSWORD, addr="203.0.113.5",
                   HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == LOCKED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_guesses_cannot_pass_the_count_before_it_is_written():
    make_staff(OPERATOR, username="grace")
    statuses: list[int] = []
    start = threading.Barrier(10)

    def guess() -> None:
        try:
            start.wait()
            statuses.append(sign_in(Client(), "grace", "guess", addr="10.0.0.7").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess) for _ in range(10)]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    # exactly five passwords were checked: four refused, the fifth refused and locking; then only the lock
    assert sorted(statuses) == [WRONG] * 4 + [LOCKED] * 6
    failures = failure_rows().aggregate(total=Sum("failures_since_start"))["total"]
    assert failures == 5


def test_a_staff_session_expires_after_a_working_day(client):
    make_staff(OPERATOR, username="heidi")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        response = sign_in(client, "heidi", PASSWORD)
        assert response.status_code == SIGNED_IN
        assert response.cookies["sessionid"]["max-age"] == 8 * 3600
    with time_machine.travel(start + timedelta(hours=7, minutes=59), tick=False):
        assert client.get("/admin/").status_code == 200
    with time_machine.travel(start + timedelta(hours=8, minutes=1), tick=False):
        response = client.get("/admin/")
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
