"""Admin sign-in is throttled per username and address, in the database (shared by all processes)."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from midoffice.models import LoginFailure
from midoffice.tests.factories import OPERATOR, PASSWORD, make_staff

pytestmark = pytest.mark.django_db


def sign_in(client, username, password, addr="10.0.0.1"):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password},
                       REMOTE_ADDR=addr)


def test_after_five_failures_even_the_right_password_waits(client, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES, settings.ADMIN_LOGIN_WINDOW = 5, 900
    user = make_staff(OPERATOR, username="alice")
    for _ in range(5):
        assert sign_in(client, "alice", "guess").status_code == 200
    response = sign_in(client, "alice", PASSWORD)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Too many failed sign-ins for this username from your address. Wait 15 minute(s)" in page
    assert "_auth_user_id" not in client.session
    # another address is not blocked by the guesser
    assert sign_in(client, "alice", PASSWORD, addr="10.0.0.2").status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_the_block_ends_with_the_window(client, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES, settings.ADMIN_LOGIN_WINDOW = 5, 900
    make_staff(OPERATOR, username="bob")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(5):
            sign_in(client, "bob", "guess")
    with time_machine.travel(start + timedelta(minutes=14), tick=False):
        assert "Wait 1 minute(s)" in sign_in(client, "bob", PASSWORD).content.decode()
    with time_machine.travel(start + timedelta(minutes=15, seconds=1), tick=False):
        assert sign_in(client, "bob", PASSWORD).status_code == 302
    assert not LoginFailure.objects.filter(username="bob").exists()  # a success wipes the slate


def test_a_success_clears_earlier_failures(client, settings):
    settings.ADMIN_LOGIN_MAX_FAILURES = 3
    make_staff(OPERATOR, username="carol")
    sign_in(client, "carol", "guess")
    sign_in(client, "carol", "guess")
    assert sign_in(client, "carol", PASSWORD).status_code == 302
    client.logout()
    sign_in(client, "carol", "guess")
    sign_in(client, "carol", "guess")
    assert sign_in(client, "carol", PASSWORD).status_code == 302
