"""Start-up rules from the environment, `check --deploy`, and /healthz."""

import os
import secrets
import subprocess
import sys

import pytest

from paysite.tests.processes import REPO

PRODUCTION = {
    "DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(50), "PSP_API_KEY": "sk_live_x",
    "PSP_WEBHOOK_SECRET": "whsec_c2VjcmV0",
    "ALLOWED_HOSTS": "pay.example.com", "SITE_URL": "https://pay.example.com",
}


def _manage(*args, env):
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION and not k.startswith("PSP_")}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("missing", ["SECRET_KEY", "PSP_API_KEY", "PSP_WEBHOOK_SECRET"])
def test_with_debug_off_a_missing_secret_stops_start_up_with_one_line_naming_it(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [f"paysite: {missing} is not set; it is required when DEBUG is off."]


def test_check_deploy_passes_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_demo_needs_no_setting_at_all():
    result = _manage("check", env={})
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_healthz_reports_database_and_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_healthz_names_what_is_down(client, settings):
    from paysite.celery import app

    # given a broker address where nothing listens
    previous = app.conf.broker_write_url, app.conf.broker_transport
    app.conf.broker_write_url, app.conf.broker_transport = "redis://127.0.0.1:1/0", None
    try:
        response = client.get("/healthz")
    finally:
        app.conf.broker_write_url, app.conf.broker_transport = previous
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "broker": "down"}
