"""HTTPS follows SITE_URL, and only configured proxies are believed about the client and its scheme.

Settings are computed once, at import, from the environment: each case runs in a fresh process
with DEBUG off and real secrets, and sends a real request through Django's test client there.
"""

import json
import os
import subprocess
import sys

import pytest

from paysite.tests.processes import REPO
from paysite.tests.test_settings_and_health import CHOSEN_BY_THE_TEST, PRODUCTION

REQUEST = """
import json, sys
import django
django.setup()
from django.conf import settings
from django.test import Client
path, headers = sys.argv[1], json.loads(sys.argv[2])
response = Client().get(path, **headers)
names = ["SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS"]
print(json.dumps({"status": response.status_code, "location": response.get("Location", ""),
                  "hsts": response.get("Strict-Transport-Security", ""),
                  "settings": {name: getattr(settings, name) for name in names}}))
"""


def _request(path, *, env, **headers):
    clean = {k: v for k, v in os.environ.items() if k not in CHOSEN_BY_THE_TEST and not k.startswith("PSP_")}
    result = subprocess.run([sys.executable, "-c", REQUEST, path, json.dumps(headers)], cwd=REPO,
                            env={**clean, "DJANGO_SETTINGS_MODULE": "paysite.settings", **env},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


PLAIN_HTTP = {**PRODUCTION, "SITE_URL": "http://pay.internal:8000", "ALLOWED_HOSTS": "pay.internal"}
HTTPS = {**PRODUCTION, "TRUSTED_PROXIES": "10.0.0.0/8"}


def test_with_an_http_site_url_nothing_is_redirected():
    answer = _request("/api/checkouts/", env=PLAIN_HTTP, HTTP_HOST="pay.internal:8000")
    assert answer["status"] == 401  # the API itself answers: no API key
    assert answer["settings"] == {"SECURE_SSL_REDIRECT": False, "SESSION_COOKIE_SECURE": False,
                                  "CSRF_COOKIE_SECURE": False, "SECURE_HSTS_SECONDS": 0}


def test_with_an_https_site_url_plain_http_is_redirected_except_healthz():
    answer = _request("/api/checkouts/", env=HTTPS, HTTP_HOST="pay.example.com")
    assert (answer["status"], answer["location"]) == (301, "https://pay.example.com/api/checkouts/")
    assert answer["settings"] == {"SECURE_SSL_REDIRECT": True, "SESSION_COOKIE_SECURE": True,
                                  "CSRF_COOKIE_SECURE": True, "SECURE_HSTS_SECONDS": 31536000}
    assert _request("/healthz", env=HTTPS, HTTP_HOST="pay.example.com")["status"] != 301


def test_https_through_a_trusted_proxy_is_served_with_hsts():
    answer = _request("/api/checkouts/", env=HTTPS, HTTP_HOST="pay.example.com", REMOTE_ADDR="10.2.0.1",
                      HTTP_X_FORWARDED_PROTO="https")
    assert answer["status"] == 401
    assert answer["hsts"].startswith("max-age=31536000")


def test_x_forwarded_proto_from_an_untrusted_peer_is_not_believed():
    answer = _request("/api/checkouts/", env=HTTPS, HTTP_HOST="pay.example.com", REMOTE_ADDR="203.0.113.9",
                      HTTP_X_FORWARDED_PROTO="https")
    assert (answer["status"], answer["location"]) == (301, "https://pay.example.com/api/checkouts/")


@pytest.mark.parametrize(("remote_addr", "forwarded_for", "client"), [
    pytest.param("10.0.0.2", "198.51.100.7", "198.51.100.7", id="one-proxy"),
    pytest.param("10.0.0.2", "192.0.2.1, 198.51.100.7", "198.51.100.7", id="client-prepended-a-lie"),
    pytest.param("10.0.0.2", "198.51.100.7, 10.0.0.3", "198.51.100.7", id="two-proxies"),
    pytest.param("10.0.0.2", "10.0.0.4, 10.0.0.3", "10.0.0.4", id="only-proxies"),
    pytest.param("10.0.0.2", "198.51.100.7, garbage", "10.0.0.2", id="malformed-last-entry"),
    pytest.param("10.0.0.2", "2001:db8::7", "2001:db8::7", id="ipv6-client"),
])
def test_the_client_is_the_rightmost_address_no_trusted_proxy_wrote(remote_addr, forwarded_for, client):
    from paysite.proxy import _networks, client_of

    trusted = _networks(("10.0.0.0/8",))
    assert client_of(remote_addr, forwarded_for, trusted) == client
