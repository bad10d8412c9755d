"""Start-up rules from the environment, `check --deploy`, and /healthz."""

import os
import secrets
import subprocess
import sys

import pytest

from paysite.tests.processes import REPO

REAL_WEBHOOK_SECRET = "whsec_" + "c2VjcmV0LXNpZ25pbmcta2V5LW9mLTMyLWJ5dGVzLTAx"  # 32 bytes
PRODUCTION = {
    "DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(50), "PSP_API_KEY": "sk_live_x",
    "PSP_WEBHOOK_SECRET": REAL_WEBHOOK_SECRET,
    "ALLOWED_HOSTS": "pay.example.com", "SITE_URL": "https://pay.example.com",
}
# Whatever the developer's shell or the test run set, each test says exactly what it runs with.
CHOSEN_BY_THE_TEST = {*PRODUCTION, "TRUSTED_PROXIES", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS"}


def _manage(*args, env):
    clean = {k: v for k, v in os.environ.items() if k not in CHOSEN_BY_THE_TEST and not k.startswith("PSP_")}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


def _one_line(result):
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("missing", ["SECRET_KEY", "PSP_API_KEY", "PSP_WEBHOOK_SECRET"])
def test_with_debug_off_a_missing_secret_stops_start_up_with_one_line_naming_it(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = _manage("check", env=env)
    assert _one_line(result) == f"paysite: {missing} is not set; it is required when DEBUG is off."


def test_debug_is_off_unless_set_so_nothing_secret_has_a_default():
    env = {k: v for k, v in PRODUCTION.items() if k not in ("DEBUG", "SECRET_KEY")}
    result = _manage("check", env=env)
    assert _one_line(result) == "paysite: SECRET_KEY is not set; it is required when DEBUG is off."


@pytest.mark.parametrize(("name", "value", "why"), [
    pytest.param("SECRET_KEY", "demo-only-secret-key-never-use-in-production-0123456789abcdef",
                 "is the public demo value", id="SECRET_KEY-demo"),
    pytest.param("SECRET_KEY", "demo-" + "x7Fq" * 15, "is a demo key", id="SECRET_KEY-demo-prefix"),
    pytest.param("SECRET_KEY", "django-insecure-" + "x7Fq" * 15, "is a demo key", id="SECRET_KEY-django-insecure"),
    pytest.param("SECRET_KEY", "x7Fq" * 10, "is shorter than 50 characters", id="SECRET_KEY-short"),
    pytest.param("PSP_API_KEY", "sk_test_sandbox", "is the public demo value", id="PSP_API_KEY-demo"),
    pytest.param("PSP_WEBHOOK_SECRET", "whsec_nQxn1sKGmCmOppoXCnxzKgmOWNcR+WOQZGWjuJADFX8=",
                 "is the public demo value", id="PSP_WEBHOOK_SECRET-demo"),
])
def test_with_debug_off_a_demo_secret_stops_start_up_with_one_line_naming_it(name, value, why):
    result = _manage("check", env={**PRODUCTION, name: value})
    assert _one_line(result).startswith(f"paysite: {name} {why}")


@pytest.mark.parametrize("debug", ["false", "true"])
@pytest.mark.parametrize("name", ["PSP_WEBHOOK_SECRET", "PSP_WEBHOOK_SECRET_PREVIOUS"])
@pytest.mark.parametrize(("value", "why"), [
    pytest.param("c2VjcmV0LXNpZ25pbmcta2V5LW9mLTMyLWJ5dGVzLTAx", "must start with whsec_.", id="no-prefix"),
    pytest.param("whsec_not base64!", "is not valid base64 after whsec_.", id="not-base64"),
    pytest.param("whsec_c2VjcmV0", "holds 6 bytes; a webhook secret needs at least 24.", id="too-short"),
])
def test_a_malformed_webhook_secret_stops_start_up_whatever_debug_is(debug, name, value, why):
    result = _manage("check", env={**PRODUCTION, "DEBUG": debug, name: value})
    assert _one_line(result) == f"paysite: {name} {why}"


def test_a_malformed_trusted_proxy_stops_start_up():
    result = _manage("check", env={**PRODUCTION, "TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"})
    assert _one_line(result) == (
        "paysite: TRUSTED_PROXIES holds 'proxy.internal', which is not an IP address or network.")


@pytest.mark.parametrize("url", ["locmemcache://", "dummycache://"])
def test_with_debug_off_a_cache_of_one_process_stops_start_up(url):
    # a key revoked in one process would stay remembered in the others (checkout/api_keys.py)
    result = _manage("check", env={**PRODUCTION, "CACHE_URL": url})
    assert _one_line(result).startswith("paysite: CACHE_URL names a cache of one process")


def test_check_deploy_passes_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING",
                     env={**PRODUCTION, "PSP_WEBHOOK_SECRET_PREVIOUS": REAL_WEBHOOK_SECRET})
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_demo_needs_no_setting_but_debug():
    result = _manage("check", env={"DEBUG": "true"})
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
